"""Server-sent events: what the gateway writes and how it reads upstream streams."""

from __future__ import annotations

import itertools

from tokenthrift.wire.sse import SSEDecoder, encode

ANTHROPIC_STYLE = (
    b"event: message_start\n"
    b'data: {"type":"message_start"}\n'
    b"\n"
    b": keep-alive comment\n"
    b"\n"
    b"event: content_block_delta\n"
    b'data: {"text":"h\xc3\xa9llo"}\n'
    b"\n"
    b"data: [DONE]\n"
    b"\n"
)
EXPECTED = [
    ("message_start", '{"type":"message_start"}'),
    ("content_block_delta", '{"text":"héllo"}'),
    (None, "[DONE]"),
]


def decode_in_pieces(stream: bytes, cuts: list[int]) -> list[tuple[str | None, str]]:
    decoder = SSEDecoder()
    events = []
    bounds = [0, *cuts, len(stream)]
    for start, end in itertools.pairwise(bounds):
        events.extend(decoder.feed(stream[start:end]))
    return events


def test_encode_writes_event_line_only_when_given() -> None:
    assert encode('{"a":1}') == b'data: {"a":1}\n\n'
    assert encode(b"x", event="ping") == b"event: ping\ndata: x\n\n"


def test_encode_splits_multiline_data_into_data_lines() -> None:
    assert encode("a\nb") == b"data: a\ndata: b\n\n"
    assert SSEDecoder().feed(encode("a\r\nb\nc", event="e")) == [("e", "a\nb\nc")]


def test_decoder_yields_complete_events_in_order() -> None:
    assert SSEDecoder().feed(ANTHROPIC_STYLE) == EXPECTED


def test_decoder_handles_a_chunk_split_anywhere() -> None:
    # Every cut, including inside the two-byte UTF-8 "é" and between "\n\n".
    for cut in range(1, len(ANTHROPIC_STYLE)):
        assert decode_in_pieces(ANTHROPIC_STYLE, [cut]) == EXPECTED, f"cut at byte {cut}"


def test_decoder_handles_one_byte_at_a_time_with_crlf() -> None:
    crlf = ANTHROPIC_STYLE.replace(b"\n", b"\r\n")
    assert decode_in_pieces(crlf, list(range(1, len(crlf)))) == EXPECTED


def test_crlf_split_between_cr_and_lf_is_one_line_ending() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    # "\r" already ends a line, so the second one dispatches; the "\n"s end nothing.
    assert decoder.feed(b"\n\r") == [(None, "a")]
    assert decoder.feed(b"\ndata: b\n") == []
    assert decoder.feed(b"\n") == [(None, "b")]


def test_bare_cr_line_endings() -> None:
    assert SSEDecoder().feed(b"event: x\rdata: 1\r\r") == [("x", "1")]


def test_multiline_data_is_joined_with_newlines() -> None:
    assert SSEDecoder().feed(b"data: one\ndata:two\n\n") == [(None, "one\ntwo")]


def test_event_without_data_is_dropped_and_its_name_forgotten() -> None:
    events = SSEDecoder().feed(b"event: ping\n\ndata: x\n\n")
    assert events == [(None, "x")]


def test_incomplete_event_waits_for_its_blank_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"event: a\ndata: 1\n") == []
    assert decoder.feed(b"\n") == [("a", "1")]

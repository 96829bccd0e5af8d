"""Folding a stream into the response the ledger, caches and accounting see."""

from __future__ import annotations

from tokenthrift.types import (
    StreamEvent,
    StreamFinish,
    StreamStart,
    StreamUsage,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from tokenthrift.wire.accumulate import StreamAccumulator


def feed(acc: StreamAccumulator, *events: StreamEvent) -> None:
    for event in events:
        acc.add(event)


def test_accumulates_text_tool_calls_finish_and_usage() -> None:
    acc = StreamAccumulator()
    feed(
        acc,
        StreamStart("chatcmpl-1", "gpt-4o", 42),
        TextDelta("Hel"),
        TextDelta("lo"),
        ToolCallDelta(1, '{"b":', id="call_b", name="g"),  # second call streams first
        ToolCallDelta(0, '{"a":1}', id="call_a", name="f"),
        ToolCallDelta(1, "2}"),
        StreamFinish("tool_calls"),
    )
    assert acc.usage is None  # no StreamUsage yet
    acc.add(StreamUsage(Usage(input_tokens=3, output_tokens=4)))
    resp = acc.response()
    assert (resp.id, resp.model, resp.created) == ("chatcmpl-1", "gpt-4o", 42)
    choice = resp.choices[0]
    assert choice.message.content == [TextPart("Hello")]
    assert choice.message.tool_calls == [
        ToolCall("call_a", "f", '{"a":1}'),
        ToolCall("call_b", "g", '{"b":2}'),
    ]
    assert choice.finish_reason == "tool_calls"
    assert resp.usage == acc.usage == Usage(input_tokens=3, output_tokens=4)


def test_choices_are_kept_apart_for_n_above_one() -> None:
    acc = StreamAccumulator()
    feed(
        acc,
        StreamStart("c", "m"),
        TextDelta("a", 1),
        TextDelta("b", 0),
        TextDelta("c", 1),
        StreamFinish("length", 1),
        StreamFinish("stop", 0),
    )
    resp = acc.response()
    assert [(c.index, c.message.text, c.finish_reason) for c in resp.choices] == [
        (0, "b", "stop"),
        (1, "ac", "length"),
    ]


def test_text_so_far_covers_text_and_tool_calls_of_a_cut_stream() -> None:
    acc = StreamAccumulator()
    feed(
        acc,
        StreamStart("c", "m"),
        TextDelta("Looking up "),
        ToolCallDelta(0, '{"city":"Os', id="t", name="weather"),
    )
    assert acc.text_so_far == 'Looking up weather{"city":"Os'
    resp = acc.response()  # usable without a finish
    assert resp.choices[0].finish_reason is None
    assert resp.choices[0].message.tool_calls[0].arguments == '{"city":"Os'


def test_start_usage_stands_in_until_final_usage() -> None:
    acc = StreamAccumulator()
    acc.add(
        StreamStart(
            "msg", "claude", usage=Usage(input_tokens=50, cache_read_tokens=10, output_tokens=1)
        )
    )
    acc.add(TextDelta("x"))
    assert acc.usage is None
    assert acc.response().usage == Usage(input_tokens=50, cache_read_tokens=10, output_tokens=1)


def test_repeated_ids_and_names_are_not_concatenated() -> None:
    # Some OpenAI-compatible servers repeat id and name on every tool-call delta.
    acc = StreamAccumulator()
    for part in ('{"a"', ":1}"):
        acc.add(ToolCallDelta(0, part, id="call_1", name="f"))
    assert acc.response().choices[0].message.tool_calls == [ToolCall("call_1", "f", '{"a":1}')]


def test_empty_stream_gives_one_empty_choice() -> None:
    resp = StreamAccumulator().response()
    assert len(resp.choices) == 1 and resp.choices[0].message.content == []
    assert resp.usage == Usage()

"""The trace format: reading, validation messages with line numbers, writing."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest

from tokenthrift.bench.trace import TraceError, read_trace, write_trace

LINE = {"id": "r17", "at_s": 12.5, "wire": "openai", "model": "gpt-4o",
        "messages": [{"role": "user", "content": "hello"}], "max_tokens": 256,
        "stream": False, "attribution": {"team": "search", "task": "simple_qa"},
        "deferrable": False,
        "key": {"kind": "labels", "labels": {"gpt-4o": True, "gpt-4o-mini": False}}}


def write(path: Path, *lines: dict[str, object]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return path


def test_the_issue_example_reads_and_writes_back_identically(tmp_path: Path) -> None:
    [request] = read_trace(write(tmp_path / "t.jsonl", LINE))
    assert request.to_json() == LINE
    assert request.kind == "labels"


def test_requests_are_sent_in_at_s_order_ties_in_line_order(tmp_path: Path) -> None:
    lines = [{**LINE, "id": rid, "at_s": at} for rid, at in (("a", 5), ("b", 1), ("c", 5))]
    assert [r.id for r in read_trace(write(tmp_path / "t.jsonl", *lines))] == ["b", "a", "c"]


@pytest.mark.parametrize(("change", "message"), [
    ({"wire": "grpc"}, "wire"), ({"at_s": -1}, "at_s"), ({"messages": []}, "messages"),
    ({"key": {"kind": "class"}}, "key.class"), ({"max_tokens": 0}, "max_tokens"),
    ({"attribution": {"colour": "red"}}, "attribution"),
    ({"key": [{"kind": "class", "class": "c"}, {"kind": "x"}]}, r"key\[1\].kind"),
])
def test_a_mistake_names_its_line_and_field(tmp_path: Path, change: dict[str, object],
                                            message: str) -> None:
    path = write(tmp_path / "t.jsonl", {**LINE, "id": "ok"}, {**LINE, **change})
    with pytest.raises(TraceError, match=rf"t.jsonl:2: {message}"):
        read_trace(path)


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="appears twice"):
        read_trace(write(tmp_path / "t.jsonl", LINE, LINE))


def test_gzip_traces_are_byte_identical_for_equal_input(tmp_path: Path) -> None:
    requests = read_trace(write(tmp_path / "t.jsonl", LINE, {**LINE, "id": "r18"}))
    write_trace(tmp_path / "a.jsonl.gz", requests)
    write_trace(tmp_path / "b.jsonl.gz", requests)
    assert (tmp_path / "a.jsonl.gz").read_bytes() == (tmp_path / "b.jsonl.gz").read_bytes()
    assert gzip.decompress((tmp_path / "a.jsonl.gz").read_bytes()).count(b"\n") == 2
    assert [r.id for r in read_trace(tmp_path / "a.jsonl.gz")] == ["r17", "r18"]

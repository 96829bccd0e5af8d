"""The emulator's Batch APIs through the official SDKs: OpenAI Files + Batches lifecycle
and Anthropic Message Batches, on simulated time moved explicitly (no wall clock)."""

from __future__ import annotations

import io
import json
from typing import Any

import anthropic
import openai
import pytest

from tokenthrift.emulator import Emulator, EmulatorConfig
from tokenthrift.server.runner import ServerThread

# For the conftest's `served` emulator. Frozen simulated time; 1 request per simulated second, so "N seconds" = N requests done.
EMULATOR_CONFIG = EmulatorConfig(batch_time_scale=0, batch_requests_per_s=1,
                                 batch_validation_s=10, batch_finalize_s=5)


@pytest.fixture
def oai(served: tuple[ServerThread, Emulator], emulator: Emulator) -> Any:
    return openai.OpenAI(base_url=served[0].url + "/v1", api_key="sk-org", max_retries=0)


@pytest.fixture
def claude(served: tuple[ServerThread, Emulator], emulator: Emulator) -> Any:
    return anthropic.Anthropic(base_url=served[0].url, api_key="sk-ant-org", max_retries=0)


def advance(emulator: Emulator, seconds: float) -> None:
    emulator.batches.clock.advance(seconds)


def jsonl(lines: list[dict[str, Any]]) -> io.BytesIO:
    return io.BytesIO(b"".join(json.dumps(line).encode() + b"\n" for line in lines))


def chat_line(custom_id: str, text: str = "hi", model: str = "gpt-4o-mini",
              **extra: Any) -> dict[str, Any]:
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": model, "messages": [{"role": "user", "content": text}],
                     "max_tokens": 16, **extra}}


def test_openai_lifecycle_with_partial_failures(oai: Any, emulator: Emulator) -> None:
    lines = [chat_line(f"r{i}", f"say [[emulator:reply=answer {i}]]") for i in range(4)]
    lines.insert(2, chat_line("bad", max_tokens=0))  # a per-request 400, not a failed batch
    upload = oai.files.create(file=("in.jsonl", jsonl(lines)), purpose="batch")
    assert upload.purpose == "batch" and upload.bytes > 0
    batch = oai.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                               completion_window="24h", metadata={"job": "nightly"})
    assert batch.status == "validating" and batch.request_counts.total == 5
    advance(emulator, 10 + 2)  # validated, 2 requests done
    batch = oai.batches.retrieve(batch.id)
    assert batch.status == "in_progress" and batch.in_progress_at is not None
    assert batch.request_counts.completed == 2 and batch.output_file_id is None
    advance(emulator, 3)  # all 5 done: finalizing
    assert oai.batches.retrieve(batch.id).status == "finalizing"
    advance(emulator, 5)
    batch = oai.batches.retrieve(batch.id)
    assert batch.status == "completed" and batch.completed_at is not None
    assert (batch.request_counts.completed, batch.request_counts.failed) == (4, 1)
    assert batch.metadata == {"job": "nightly"}
    out = [json.loads(x) for x in oai.files.content(batch.output_file_id).text.splitlines()]
    assert [o["custom_id"] for o in out] == ["r0", "r1", "r2", "r3"]
    assert out[3]["response"]["body"]["choices"][0]["message"]["content"] == "answer 3"
    assert out[0]["response"]["status_code"] == 200
    errors = [json.loads(x) for x in oai.files.content(batch.error_file_id).text.splitlines()]
    assert errors[0]["custom_id"] == "bad" and errors[0]["response"]["status_code"] == 400
    assert batch.usage.input_tokens > 0 and batch.usage.output_tokens > 0


def test_openai_invalid_file_fails_the_batch(oai: Any, emulator: Emulator) -> None:
    lines = [chat_line("a"), chat_line("a"), {"custom_id": "b", "method": "POST",
                                              "url": "/v1/embeddings", "body": {"model": "x"}}]
    upload = oai.files.create(file=("in.jsonl", jsonl(lines)), purpose="batch")
    batch = oai.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                               completion_window="24h")
    advance(emulator, 10)
    batch = oai.batches.retrieve(batch.id)
    assert batch.status == "failed" and batch.failed_at is not None
    codes = {e.code for e in batch.errors.data}
    assert {"duplicate_custom_id", "mismatched_endpoint"} <= codes
    # positive control: the same file without the bad lines runs
    good = oai.files.create(file=("ok.jsonl", jsonl([chat_line("a")])), purpose="batch")
    ok = oai.batches.create(input_file_id=good.id, endpoint="/v1/chat/completions",
                            completion_window="24h")
    advance(emulator, 20)
    assert oai.batches.retrieve(ok.id).status == "completed"


def test_openai_expiry_keeps_what_was_done(oai: Any, emulator: Emulator) -> None:
    emulator.batches.timing.requests_per_s = 1 / 3600  # one request per simulated hour
    try:
        upload = oai.files.create(file=("in.jsonl", jsonl([chat_line(f"r{i}")
                                                           for i in range(30)])), purpose="batch")
        batch = oai.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                                   completion_window="24h")
    finally:
        emulator.batches.timing.requests_per_s = 1
    advance(emulator, 23 * 3600)
    assert oai.batches.retrieve(batch.id).status == "in_progress"
    advance(emulator, 3600)
    batch = oai.batches.retrieve(batch.id)
    assert batch.status == "expired" and batch.expired_at is not None
    assert batch.request_counts.completed == 23
    assert batch.request_counts.failed == 7
    errors = [json.loads(x) for x in oai.files.content(batch.error_file_id).text.splitlines()]
    assert {e["error"]["code"] for e in errors} == {"batch_expired"} and len(errors) == 7


def test_openai_cancel(oai: Any, emulator: Emulator) -> None:
    upload = oai.files.create(file=("in.jsonl", jsonl([chat_line(f"r{i}") for i in range(10)])),
                              purpose="batch")
    batch = oai.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                               completion_window="24h")
    advance(emulator, 10 + 4)
    assert oai.batches.cancel(batch.id).status == "cancelling"
    advance(emulator, 5)
    batch = oai.batches.retrieve(batch.id)
    assert batch.status == "cancelled" and batch.cancelled_at is not None
    assert (batch.request_counts.completed, batch.request_counts.failed) == (4, 6)
    assert len(oai.files.content(batch.output_file_id).text.splitlines()) == 4
    with pytest.raises(openai.BadRequestError):
        oai.batches.cancel(batch.id)
    assert [b.id for b in oai.batches.list().data] == [batch.id]


def test_anthropic_message_batches(claude: Any, emulator: Emulator) -> None:
    requests = [{"custom_id": f"m{i}", "params": {
        "model": "claude-haiku-4-5", "max_tokens": 32,
        "messages": [{"role": "user", "content": f"[[emulator:reply=reply {i}]]"}]}}
        for i in range(3)]
    requests.append({"custom_id": "broken", "params": {"model": "claude-haiku-4-5",
                                                        "messages": []}})
    batch = claude.messages.batches.create(requests=requests)
    assert batch.processing_status == "in_progress" and batch.request_counts.processing == 4
    advance(emulator, 10 + 4 + 5)
    batch = claude.messages.batches.retrieve(batch.id)
    assert batch.processing_status == "ended" and batch.ended_at is not None
    assert (batch.request_counts.succeeded, batch.request_counts.errored) == (3, 1)
    results = {r.custom_id: r.result for r in claude.messages.batches.results(batch.id)}
    assert results["m2"].type == "succeeded"
    assert results["m2"].message.content[0].text == "reply 2"
    assert results["broken"].type == "errored"
    assert results["broken"].error.error.type == "invalid_request_error"


def test_anthropic_cancel_and_expiry(claude: Any, emulator: Emulator) -> None:
    requests = [{"custom_id": f"m{i}", "params": {"model": "claude-haiku-4-5", "max_tokens": 8,
                 "messages": [{"role": "user", "content": "hi"}]}} for i in range(6)]
    batch = claude.messages.batches.create(requests=requests)
    advance(emulator, 10 + 2)
    assert claude.messages.batches.cancel(batch.id).processing_status == "canceling"
    advance(emulator, 5)
    batch = claude.messages.batches.retrieve(batch.id)
    assert batch.processing_status == "ended"
    assert (batch.request_counts.succeeded, batch.request_counts.canceled) == (2, 4)
    kinds = [r.result.type for r in claude.messages.batches.results(batch.id)]
    assert kinds == ["succeeded"] * 2 + ["canceled"] * 4
    emulator.batches.timing.requests_per_s = 1 / (5 * 3600)  # one per 5 simulated hours
    try:
        slow = claude.messages.batches.create(requests=requests)
    finally:
        emulator.batches.timing.requests_per_s = 1
    advance(emulator, 24 * 3600)
    slow = claude.messages.batches.retrieve(slow.id)
    assert slow.processing_status == "ended"
    assert (slow.request_counts.succeeded, slow.request_counts.expired) == (4, 2)
    kinds = [r.result.type for r in claude.messages.batches.results(slow.id)]
    assert kinds == ["succeeded"] * 4 + ["expired"] * 2
    claude.messages.batches.delete(slow.id)
    with pytest.raises(anthropic.NotFoundError):
        claude.messages.batches.retrieve(slow.id)

"""Batch passthrough access control: every file and batch created through the gateway is
owned by the client key that created it; on the shared upstream account another key gets
404 (as if the id did not exist) for it, and lists show only the caller's own."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from gateway_harness import RunningGateway, running_gateway
from governance_harness import create_key, governed_config
from tokenthrift.config import GatewayConfig
from tokenthrift.levers.batch import ANONYMOUS, BatchStore, TrackedBatch


def access_config(tmp_path: Path) -> GatewayConfig:
    return governed_config(
        tmp_path, {"auth": "required"}, data_dir=str(tmp_path / "data"),
        providers={"emu": {"type": "emulator", "emulator": {
            "batch_time_scale": 0, "batch_requests_per_s": 1, "batch_validation_s": 1,
            "batch_finalize_s": 1}}},
        batch={"poll_interval": 0.05})


def _openai(gw: RunningGateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)


def _anthropic(gw: RunningGateway, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0)


def _jsonl(n: int) -> io.BytesIO:
    lines = [{"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions",
              "body": {"model": "gpt-4o-mini", "max_tokens": 16, "messages": [
                  {"role": "user", "content": f"[[emulator:reply=secret {i}]]"}]}}
             for i in range(n)]
    return io.BytesIO(b"".join(json.dumps(x).encode() + b"\n" for x in lines))


def _requests(n: int) -> list[Any]:
    return [{"custom_id": f"m{i}", "params": {
        "model": "claude-haiku-4-5", "max_tokens": 16,
        "messages": [{"role": "user", "content": "hi"}]}} for i in range(n)]


@pytest.fixture()
def two_keys(tmp_path: Path) -> Any:
    with running_gateway(access_config(tmp_path)) as gw:
        yield gw, create_key(gw.url, team="a")["key"], create_key(gw.url, team="b")["key"]


def test_another_key_cannot_see_cancel_or_download_an_openai_batch(two_keys: Any) -> None:
    gw, key_a, key_b = two_keys
    a, b = _openai(gw, key_a), _openai(gw, key_b)
    upload = a.files.create(file=("in.jsonl", _jsonl(2)), purpose="batch")
    batch = a.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                             completion_window="24h")
    # positive controls: the owner sees its file and batch, in lists too
    assert a.files.retrieve(upload.id).id == upload.id
    assert b"secret 0" in a.files.content(upload.id).content
    assert a.batches.retrieve(batch.id).id == batch.id
    assert [x.id for x in a.batches.list()] == [batch.id]
    assert [x.id for x in a.files.list()] == [upload.id]
    # key B: as if neither existed
    with pytest.raises(openai.NotFoundError):
        b.files.retrieve(upload.id)
    with pytest.raises(openai.NotFoundError):
        b.files.content(upload.id)
    with pytest.raises(openai.NotFoundError):
        b.files.delete(upload.id)
    with pytest.raises(openai.NotFoundError):
        b.batches.retrieve(batch.id)
    with pytest.raises(openai.NotFoundError):
        b.batches.cancel(batch.id)
    with pytest.raises(openai.NotFoundError):  # nor run A's file as its own batch
        b.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                         completion_window="24h")
    assert list(b.batches.list()) == [] and list(b.files.list()) == []
    # B's own batch: each list shows only its owner's
    own = b.files.create(file=("b.jsonl", _jsonl(1)), purpose="batch")
    b_batch = b.batches.create(input_file_id=own.id, endpoint="/v1/chat/completions",
                               completion_window="24h")
    b_cancelled = b.batches.create(input_file_id=own.id, endpoint="/v1/chat/completions",
                                   completion_window="24h")
    assert b.batches.cancel(b_cancelled.id).id == b_cancelled.id  # the owner may cancel
    assert {x.id for x in b.batches.list()} == {b_batch.id, b_cancelled.id}
    assert [x.id for x in a.batches.list()] == [batch.id]
    assert {x.id for x in a.files.list()} == {upload.id}
    # the results: the owner downloads them, B cannot
    gw.emulator.batches.clock.advance(10)
    ended = a.batches.retrieve(batch.id)
    assert ended.status == "completed" and ended.output_file_id
    assert len(a.files.content(ended.output_file_id).text.splitlines()) == 2
    with pytest.raises(openai.NotFoundError):
        b.files.content(ended.output_file_id)
    assert b.batches.retrieve(b_batch.id).status == "completed"  # B's own: fine
    assert b.batches.retrieve(b_cancelled.id).status == "cancelled"


def test_another_key_cannot_see_cancel_or_read_an_anthropic_batch(two_keys: Any) -> None:
    gw, key_a, key_b = two_keys
    a, b = _anthropic(gw, key_a), _anthropic(gw, key_b)
    batch = a.messages.batches.create(requests=_requests(2))
    assert a.messages.batches.retrieve(batch.id).id == batch.id  # positive control
    assert [x.id for x in a.messages.batches.list()] == [batch.id]
    with pytest.raises(anthropic.NotFoundError):
        b.messages.batches.retrieve(batch.id)
    with pytest.raises(anthropic.NotFoundError):
        b.messages.batches.cancel(batch.id)
    with pytest.raises(anthropic.NotFoundError):
        b.messages.batches.delete(batch.id)
    assert list(b.messages.batches.list()) == []
    mine = b.messages.batches.create(requests=_requests(1))
    assert [x.id for x in b.messages.batches.list()] == [mine.id]
    assert [x.id for x in a.messages.batches.list()] == [batch.id]
    gw.emulator.batches.clock.advance(10)
    assert a.messages.batches.retrieve(batch.id).processing_status == "ended"
    assert len(list(a.messages.batches.results(batch.id))) == 2
    with pytest.raises(anthropic.NotFoundError):
        list(b.messages.batches.results(batch.id))
    assert a.messages.batches.cancel(batch.id).id == batch.id  # the owner may cancel


def test_owners_are_recorded_once_and_legacy_batches_keep_their_creator(tmp_path: Path
                                                                       ) -> None:
    store = BatchStore(tmp_path / "b.db")
    store.own("file-1", "file", "key_a")
    store.own("file-1", "file", "key_b")  # the first owner stays
    assert store.owner("file-1", "file") == "key_a"
    assert store.owner("file-1", "batch") is None and store.owner("nope", "file") is None
    # tracked before owners were recorded: the creator's key id, or anonymous
    store.track(TrackedBatch("batch_old", "emu", "openai", {"key_id": "key_a"}, False))
    store.track(TrackedBatch("batch_anon", "emu", "openai", {"key_id": None}, False))
    store.track(TrackedBatch("batch_deferred", "emu", "openai", {}, True))
    assert store.owner("batch_old", "batch") == "key_a"
    assert store.owner("batch_anon", "batch") == ANONYMOUS
    assert store.owner("batch_deferred", "batch") is None  # the gateway's own: nobody's
    assert store.owned(["batch_old", "batch_anon", "x"], "batch", "key_a") == {"batch_old"}

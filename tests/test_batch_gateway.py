"""Batch traffic through the gateway: the Batch APIs passed through with attribution, each
result a ledger row at batch prices with its saving under ``batch``; deferred requests
(``x-tokenthrift-defer``) answered 202 with a job, completed through a batch, across a
restart."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pytest

try:  # the HTTP client the installed SDKs are built on
    import httpx2 as httpx
except ImportError:  # pragma: no cover - older SDK releases
    import httpx  # type: ignore[no-redef]

from gateway_harness import CLIENT_KEY, RunningGateway, config_for, running_gateway
from tokenthrift.config import GatewayConfig
from tokenthrift.ledger.record import LedgerRecord


def batch_config(tmp_path: Path, **batch: Any) -> GatewayConfig:
    return config_for(tmp_path, {
        "data_dir": str(tmp_path / "data"),
        "providers": {"emulator": {"type": "emulator", "emulator": {
            "batch_time_scale": 0, "batch_requests_per_s": 1, "batch_validation_s": 1,
            "batch_finalize_s": 1}}},
        "batch": {"poll_interval": 0.05, **batch},
    })


def advance(gw: RunningGateway, seconds: float) -> None:
    gw.emulator.batches.clock.advance(seconds)


def rows(gw: RunningGateway, endpoint: str) -> list[LedgerRecord]:
    gw.gateway.writer.flush()
    return [r for r in gw.gateway.ledger.rows(limit=10_000) if r.endpoint == endpoint]


def wait_for(predicate: Any, what: str) -> Any:
    for _ in range(400):  # the worker polls every 50 ms; bounded, no timing asserted
        found = predicate()
        if found:
            return found
        time.sleep(0.025)
    pytest.fail(f"never happened: {what}")


def test_openai_batch_passthrough_is_priced_at_batch_rates(tmp_path: Path) -> None:
    with running_gateway(batch_config(tmp_path)) as gw:
        client = gw.openai(default_headers={"x-tokenthrift-team": "nightly"})
        lines = [{"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions",
                  "body": {"model": "gpt-4o-mini", "max_tokens": 16, "messages": [
                      {"role": "user", "content": f"[[emulator:reply=done {i}]]"}]}}
                 for i in range(3)]
        lines.append({"custom_id": "bad", "method": "POST", "url": "/v1/chat/completions",
                      "body": {"model": "gpt-4o-mini", "max_tokens": 0,
                               "messages": [{"role": "user", "content": "x"}]}})
        data = b"".join(json.dumps(x).encode() + b"\n" for x in lines)
        upload = client.files.create(file=("in.jsonl", io.BytesIO(data)), purpose="batch")
        batch = client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                                      completion_window="24h")
        assert batch.status == "validating"
        assert rows(gw, "batch") == []
        advance(gw, 10)
        batch = client.batches.retrieve(batch.id)  # ended: settled as the client looks
        assert batch.status == "completed" and batch.request_counts.completed == 3
        out = client.files.content(batch.output_file_id).text.splitlines()
        assert len(out) == 3
        settled = rows(gw, "batch")
        assert len(settled) == 3  # one row per successful result, none for the 400
        for row in settled:
            assert row.batch and row.team == "nightly" and row.served_model == "gpt-4o-mini"
            usage_cost = row.cost_usd
            assert usage_cost is not None and row.baseline_cost_usd == usage_cost * 2
            assert row.savings == {"batch": usage_cost}
            assert row.saved_usd == usage_cost
        # settling again (another look, the worker) writes nothing twice
        client.batches.retrieve(batch.id)
        wait_for(lambda: not gw.gateway.lever("batch").store.unsettled(), "settled")
        assert len(rows(gw, "batch")) == 3


def test_anthropic_message_batch_passthrough(tmp_path: Path) -> None:
    with running_gateway(batch_config(tmp_path)) as gw:
        client = gw.anthropic()
        batch = client.messages.batches.create(requests=[
            {"custom_id": f"m{i}", "params": {"model": "claude-haiku-4-5", "max_tokens": 16,
                                              "messages": [{"role": "user", "content": "hi"}]}}
            for i in range(2)])
        advance(gw, 10)
        ended = client.messages.batches.retrieve(batch.id)
        assert ended.processing_status == "ended"
        assert ended.results_url.startswith(gw.url)  # results come through the gateway
        results = list(client.messages.batches.results(batch.id))
        assert {r.result.type for r in results} == {"succeeded"}
        settled = rows(gw, "batch")
        assert len(settled) == 2
        assert all(r.savings["batch"] == r.cost_usd and r.cost_usd for r in settled)


def _defer(gw: RunningGateway, body: dict[str, Any], path: str = "/v1/chat/completions",
           **headers: str) -> httpx.Response:
    auth = {"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"} \
        if path == "/v1/messages" else {"authorization": f"Bearer {CLIENT_KEY}"}
    return httpx.post(gw.url + path, json=body, headers={
        **auth, "x-tokenthrift-defer": "24h", **headers})


def _job(gw: RunningGateway, job_id: str) -> dict[str, Any]:
    reply = httpx.get(f"{gw.url}/v1/tokenthrift/jobs/{job_id}",
                      headers={"authorization": f"Bearer {CLIENT_KEY}"})
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def test_deferred_requests_survive_a_restart(tmp_path: Path) -> None:
    config = batch_config(tmp_path, defer={"max_requests": 3, "max_wait": "1h"})
    body = {"model": "gpt-4o-mini", "max_tokens": 16,
            "messages": [{"role": "user", "content": "[[emulator:reply=later]]"}]}
    with running_gateway(config) as gw:
        first = _defer(gw, body)
        assert first.status_code == 202, first.text
        job = first.json()
        assert job["status"] == "queued" and first.headers["x-tokenthrift-job-id"] == job["id"]
        second = _defer(gw, {**body, "messages": [{"role": "user", "content": "two"}]})
        assert _job(gw, job["id"])["status"] == "queued"  # 2 < max_requests, < max_wait
    # restart: a new gateway over the same data directory (the emulator is new too)
    with running_gateway(config) as gw:
        assert _job(gw, job["id"])["status"] == "queued"
        third = _defer(gw, {"model": "claude-haiku-4-5", "max_tokens": 16, "messages": [
            {"role": "user", "content": "[[emulator:reply=from claude]]"}]}, "/v1/messages")
        fourth = _defer(gw, {**body, "messages": [{"role": "user", "content": "three"}]})
        wait_for(lambda: _job(gw, job["id"])["status"] == "submitted", "3 queued: submitted")
        advance(gw, 10)
        done = wait_for(lambda: (j := _job(gw, job["id"]))["status"] == "completed" and j,
                        "completed")
        assert done["response"]["choices"][0]["message"]["content"] == "later"
        assert done["response"]["object"] == "chat.completion"
        assert _job(gw, second.json()["id"])["status"] == "completed"
        assert _job(gw, fourth.json()["id"])["status"] == "completed"
        assert _job(gw, third.json()["id"])["status"] == "queued"  # its own group: 1 < 3
        row = gw.ledger_row(job["id"])
        assert row.batch and row.endpoint == "deferred" and row.requested_model == "gpt-4o-mini"
        assert row.savings["batch"] == row.cost_usd and row.baseline_cost_usd == 2 * row.cost_usd


def test_a_deferred_request_is_answered_in_the_clients_wire_format(tmp_path: Path) -> None:
    config = batch_config(tmp_path, defer={"max_requests": 1})
    with running_gateway(config) as gw:
        reply = _defer(gw, {"model": "claude-haiku-4-5", "max_tokens": 16, "messages": [
            {"role": "user", "content": "[[emulator:reply=bonjour]]"}]}, "/v1/messages")
        assert reply.status_code == 202
        job_id = reply.json()["id"]
        wait_for(lambda: _job(gw, job_id)["status"] == "submitted", "submitted")
        advance(gw, 10)
        done = wait_for(lambda: (j := _job(gw, job_id))["status"] == "completed" and j, "done")
        assert done["response"]["type"] == "message"
        assert done["response"]["content"][0]["text"] == "bonjour"


def test_bad_deferrals_are_refused(tmp_path: Path) -> None:
    with running_gateway(batch_config(tmp_path)) as gw:
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        assert _defer(gw, body, **{"x-tokenthrift-defer": "48h"}).status_code == 400
        assert _defer(gw, body, **{"x-tokenthrift-defer": "soon"}).status_code == 400
        assert _defer(gw, {**body, "stream": True}).status_code == 400
        assert _defer(gw, body).status_code == 202  # positive control
        reply = httpx.get(f"{gw.url}/v1/tokenthrift/jobs/job_nope",
                          headers={"authorization": f"Bearer {CLIENT_KEY}"})
        assert reply.status_code == 404


def test_batch_section_is_accepted_and_checked(tmp_path: Path) -> None:
    from tokenthrift.config import ConfigError
    from tokenthrift.levers.batch.settings import parse

    assert parse(batch_config(tmp_path)).poll_interval_s == pytest.approx(0.05)
    with pytest.raises(ConfigError, match=r"batch\.openai_provider"):
        parse(batch_config(tmp_path, openai_provider="nope"))

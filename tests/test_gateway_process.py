"""``tokenthrift serve`` as a process: answered requests survive a SIGTERM, and a model
the catalog cannot price is reported as unknown, never as $0."""

from __future__ import annotations

import signal
from pathlib import Path

import openai
import yaml

from gateway_harness import config_for, running_gateway
from serve_process import start_serve
from tokenthrift.ledger import open_ledger


def test_sigterm_flushes_every_answered_request(tmp_path: Path) -> None:
    ledger_path = tmp_path / "ledger.db"
    config = {
        "providers": {"emu": {"type": "emulator"}},
        "models": [{"name": "*", "provider": "emu"}],
        # A long flush interval: without the shutdown flush, rows would be lost.
        "storage": {"ledger": f"sqlite:///{ledger_path}", "ledger_flush_interval_s": 30},
        "cache": {"exact": {"enabled": False}},
        "data_dir": str(tmp_path / "data"),
    }
    config_file = tmp_path / "gateway.yaml"
    config_file.write_text(yaml.safe_dump(config))
    served = start_serve(config_file)
    process = served.process
    try:
        served.wait_healthy()
        client = openai.OpenAI(base_url=served.url + "/v1", api_key="sk-test", max_retries=0)
        ids = set()
        for i in range(25):
            raw = client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": f"question {i}"}])
            ids.add(raw.headers["x-tokenthrift-request-id"])
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught, so the
        # process ends "killed by SIGTERM" after the lifespan has flushed the ledger.
        assert process.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        if process.poll() is None:
            process.kill()
    ledger = open_ledger(str(ledger_path))
    stored = {row.request_id for row in ledger.rows(limit=100)}
    ledger.close()
    assert stored == ids


def test_unpriced_model_cost_is_unknown_not_zero(tmp_path: Path) -> None:
    raw = {
        "providers": {"emu": {"type": "emulator", "emulator": {"accept_any_model": True}}},
        "models": [{"name": "*", "provider": "emu"}],
    }
    with running_gateway(config_for(tmp_path, raw)) as gw:
        response = gw.openai().chat.completions.with_raw_response.create(
            model="acme-internal-llm-7b", messages=[{"role": "user", "content": "hi"}])
        assert response.parse().choices[0].message.content
        assert response.headers["x-tokenthrift-cost-usd"] == "unknown"
        assert response.headers["x-tokenthrift-saved-usd"] == "unknown"
        row = gw.ledger_row(response.headers["x-tokenthrift-request-id"])
        assert row.cost_usd is None and row.baseline_cost_usd is None
        assert row.output_tokens > 0

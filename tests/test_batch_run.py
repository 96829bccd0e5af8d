"""``tokenthrift batch run`` against the emulator: splitting, results in input order with
errors per line, cost vs synchronous, and resume after a kill with no request sent twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tokenthrift.batch.api import BatchAPI
from tokenthrift.batch.runner import BatchRunner
from tokenthrift.cli.main import cli
from tokenthrift.emulator import Emulator, EmulatorConfig
from tokenthrift.server.runner import ServerThread

EMULATOR_CONFIG = EmulatorConfig(batch_time_scale=0, batch_requests_per_s=10,
                                 batch_validation_s=1, batch_finalize_s=1)


@pytest.fixture
def url(served: tuple[ServerThread, Emulator], emulator: Emulator) -> str:
    return served[0].url


def write_input(path: Path, n: int, *, claude: int = 0) -> Path:
    lines: list[dict[str, Any]] = []
    for i in range(n):
        if i % 2:
            lines.append({"custom_id": f"q{i}", "method": "POST", "url": "/v1/chat/completions",
                          "body": {"model": "gpt-4o-mini", "max_tokens": 20, "messages": [
                              {"role": "user", "content": f"[[emulator:reply=answer {i}]]"}]}})
        else:
            lines.append({"custom_id": f"q{i}", "max_tokens": 20, "messages": [
                {"role": "user", "content": f"[[emulator:reply=answer {i}]]"}]})
    for j in range(claude):
        lines.append({"custom_id": f"c{j}", "model": "claude-haiku-4-5", "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": f"[[emulator:reply=claude {j}]]"}]})
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def test_results_in_input_order_with_errors_and_cost(url: str, emulator: Emulator,
                                                     tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.jsonl", 7, claude=2)
    bad = {"custom_id": "bad", "model": "gpt-4o-mini", "max_tokens": 0,
           "messages": [{"role": "user", "content": "x"}]}
    with source.open("a") as handle:
        handle.write(json.dumps(bad) + "\n")
    polls: list[tuple[int, int]] = []
    runner = BatchRunner(BatchAPI(url, "sk-test"), poll_interval=0,
                         sleep=lambda _: emulator.batches.clock.advance(60),
                         progress=lambda done, total: polls.append((done, total)))
    out = tmp_path / "out.jsonl"
    summary = runner.run(source, out, tmp_path / "state.json", model="gpt-4o-mini",
                         max_requests=3)
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["custom_id"] for r in rows] == [*(f"q{i}" for i in range(7)), "c0", "c1", "bad"]
    assert rows[5]["response"]["choices"][0]["message"]["content"] == "answer 5"
    assert rows[8]["response"]["content"][0]["text"] == "claude 1"
    assert rows[9]["response"] is None and rows[9]["status_code"] == 400
    assert rows[9]["error"]["error"]["param"] == "max_tokens"
    # 8 gpt-4o-mini requests in chunks of 3, 2 Claude requests in one
    assert summary.batches == 4 and len(emulator.batches.openai) == 3
    assert len(emulator.batches.anthropic) == 1
    assert (summary.succeeded, summary.failed, summary.unpriced) == (9, 1, 0)
    assert summary.batch_cost_usd * 2 == summary.sync_cost_usd > 0
    assert polls[-1] == (10, 10)


def _batches(emulator: Emulator) -> int:
    return len(emulator.batches.openai) + len(emulator.batches.anthropic)


def _sent(emulator: Emulator) -> int:
    runs = [b.run for b in emulator.batches.openai.values()]
    runs += list(emulator.batches.anthropic.values())
    return sum(len(r.requests) for r in runs)


def test_resume_after_kill_sends_nothing_twice(url: str, emulator: Emulator,
                                               tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.jsonl", 12, claude=3)
    out, state = tmp_path / "out.jsonl", tmp_path / "run.state"
    args = [sys.executable, "-m", "tokenthrift.cli", "batch", "run", str(source), "--out",
            str(out), "--state", str(state), "--base-url", url, "--api-key", "sk-test",
            "--model", "gpt-4o-mini", "--max-requests-per-batch", "4", "--poll-interval",
            "0.05", "--quiet"]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # Simulated time is frozen: the batches never end, so the run is mid-way (all chunks
        # submitted, polling) when it is killed.
        for _ in range(600):
            if state.exists() and all(c["status"] == "submitted" for c in
                                      json.loads(state.read_text())["chunks"]):
                break
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            time.sleep(0.05)
        else:
            pytest.fail("the run never submitted its batches")
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert not out.exists()
    assert _batches(emulator) == 4 and _sent(emulator) == 15  # 3 + 1 chunks: 12 + 3 requests
    emulator.batches.clock.advance(3600)
    result = CliRunner().invoke(cli, args[3:])
    assert result.exit_code == 0, result.output
    assert _batches(emulator) == 4 and _sent(emulator) == 15  # nothing sent again
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["custom_id"] for r in rows] == [*(f"q{i}" for i in range(12)), "c0", "c1", "c2"]
    assert all(r["response"] is not None for r in rows)
    assert "saved" in result.output and "50%" in result.output


class KilledAfterCreate(BatchAPI):
    """Dies right after the provider accepted a batch, before the run could record it."""

    def create_batch(self, file_id: str, endpoint: str, metadata: dict[str, str]
                     ) -> dict[str, Any]:
        super().create_batch(file_id, endpoint, metadata)
        raise KeyboardInterrupt


def test_a_batch_created_but_not_recorded_is_found_again(url: str, emulator: Emulator,
                                                         tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.jsonl", 4)
    state = tmp_path / "state.json"
    with pytest.raises(KeyboardInterrupt):
        BatchRunner(KilledAfterCreate(url, "sk-test")).run(source, tmp_path / "out.jsonl",
                                                           state, model="gpt-4o-mini")
    assert json.loads(state.read_text())["chunks"][0]["status"] == "submitting"
    assert _batches(emulator) == 1
    runner = BatchRunner(BatchAPI(url, "sk-test"), poll_interval=0,
                         sleep=lambda _: emulator.batches.clock.advance(60))
    summary = runner.run(source, tmp_path / "out.jsonl", state, model="gpt-4o-mini")
    assert _batches(emulator) == 1 and summary.succeeded == 4  # adopted, not resubmitted


def test_a_state_file_of_another_input_is_refused(url: str, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    first = write_input(tmp_path / "a.jsonl", 2)
    second = write_input(tmp_path / "b.jsonl", 3)
    runner = BatchRunner(BatchAPI(url, "sk-test"), poll_interval=0, sleep=lambda _: None)
    with pytest.raises(KeyboardInterrupt):
        BatchRunner(KilledAfterCreate(url, "sk-test")).run(first, tmp_path / "o", state,
                                                           model="gpt-4o-mini")
    with pytest.raises(ValueError, match="another input"):
        runner.run(second, tmp_path / "o", state, model="gpt-4o-mini")

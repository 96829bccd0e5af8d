"""``tokenthrift config check`` and ``tokenthrift serve``: a bad config is a one-line
message and a non-zero exit, never a traceback; ``serve --workers N`` runs N processes on
one port, refuses in-process limits it could not hold, and flushes every worker's ledger."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml
from click.testing import CliRunner

from tokenthrift.cli.main import cli
from tokenthrift.cli.serve_cmd import refuse_unshared_limits
from tokenthrift.config import ConfigError, parse_config
from tokenthrift.ledger import open_ledger
from tokenthrift.levers.governance.budgets import Budget
from tokenthrift.levers.governance.store import GovernanceStore
from tokenthrift.server.runner import free_port


def write_config(tmp_path: Path, **sections: Any) -> Path:
    raw = {"providers": {"emu": {"type": "emulator"}},
           "models": [{"name": "*", "provider": "emu"}],
           "storage": {"ledger": f"sqlite:///{tmp_path}/ledger.db"},
           "data_dir": str(tmp_path / "data"), **sections}
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def serve_process(*args: str, stderr: Any = subprocess.PIPE) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "tokenthrift.cli", "serve", *args],
                            stdout=subprocess.DEVNULL, stderr=stderr, env={**os.environ})


# -- config check --------------------------------------------------------------------------


def test_config_check_reports_the_models_and_levers_of_a_valid_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, cache={"exact": {"ttl": "1h"}})
    result = CliRunner().invoke(cli, ["config", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"ok: {path} (1 model, levers: governance, cache, batch)\n"
    assert not (tmp_path / "ledger.db").exists()  # validated, nothing opened


@pytest.mark.parametrize(("sections", "message"), [
    ({"cahce": {}}, "cahce: unknown section 'cahce' (did you mean 'cache'?)"),
    ({"timeout_s": "abc"}, "timeout_s: expected a number of seconds, got 'abc'"),
    ({"cache": {"exact": {"tll": "1h"}}}, "cache.exact.tll: unknown key 'tll' (did you mean 'ttl'?)"),
    ({"governance": {"teams": {"a": {"rpm": -1}}}}, "governance.teams.a.rpm: expected a positive"),
])
def test_config_check_names_the_key_and_exits_1(tmp_path: Path, sections: dict[str, Any],
                                                message: str) -> None:
    path = write_config(tmp_path, **sections)
    result = CliRunner().invoke(cli, ["config", "check", str(path)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {path}: {message}")
    assert result.stdout == ""


def test_config_check_of_a_missing_file_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["config", "check", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and "config file not found" in result.stderr


# -- serve with a bad config -----------------------------------------------------------------


@pytest.mark.parametrize(("sections", "message"), [
    ({"routing": {"polices": {}}}, "routing.polices: unknown key 'polices'"),
    # Raised by the cache lever's own parser while the gateway is built.
    ({"cache": {"exact": {"tll": "1h"}}}, "cache.exact.tll: unknown key 'tll'"),
    # Valid, but the database is not there: still one line.
    ({"storage": {"ledger": "postgresql://tt:secret@127.0.0.1:1/none"}}, "127.0.0.1"),
])
def test_serve_with_a_bad_config_exits_with_the_message_and_no_traceback(
        tmp_path: Path, sections: dict[str, Any], message: str) -> None:
    process = serve_process("--config", str(write_config(tmp_path, **sections)),
                            "--port", str(free_port()))
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert message in stderr.decode()
    assert "Traceback" not in stderr.decode() and "secret" not in stderr.decode()


# -- several workers -------------------------------------------------------------------------


def test_workers_refuse_rate_limits_that_each_worker_would_count_alone(tmp_path: Path) -> None:
    path = write_config(tmp_path, governance={"teams": {"search": {"rpm": 60}}})
    result = CliRunner().invoke(cli, ["serve", "--config", str(path), "--workers", "2"])
    assert result.exit_code == 1
    assert "--workers 2: governance.teams rate limits (search)" in result.stderr
    assert "storage.redis" in result.stderr


def test_workers_need_redis_only_when_limits_or_budgets_exist(tmp_path: Path) -> None:
    raw = {"storage": {"ledger": f"sqlite:///{tmp_path}/ledger.db"}}
    refuse_unshared_limits(parse_config(raw), 2)  # no limits anywhere: fine
    store = GovernanceStore.for_config(parse_config(raw))
    store.upsert_budget(Budget("team", "search", "month", Decimal("100")), time.time())
    store.close()
    with pytest.raises(ConfigError, match=r"--workers 2: 1 budget\(s\) would be counted"):
        refuse_unshared_limits(parse_config(raw), 2)
    shared = {"storage": {**raw["storage"], "redis": "redis://127.0.0.1:6379/0"}}
    refuse_unshared_limits(parse_config(shared), 2)  # counters shared in Redis: fine
    refuse_unshared_limits(parse_config({**raw, "governance": {"enabled": False}}), 2)


def _wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gateway exited early: {process.stderr.read()!r}")  # type: ignore[union-attr]
        try:
            with urllib.request.urlopen(url + "/health", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("gateway did not become healthy")


def test_two_workers_serve_one_port_and_sigterm_flushes_both_ledgers(tmp_path: Path) -> None:
    # Rows are written only at shutdown (long flush interval): a worker that did not
    # flush on SIGTERM would lose its rows.
    path = write_config(tmp_path, storage={"ledger": f"sqlite:///{tmp_path}/ledger.db",
                                           "ledger_flush_interval_s": 60})
    port = free_port()
    process = serve_process("--config", str(path), "--port", str(port), "--workers", "2")
    ids = set()
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, process)
        for _ in range(40):
            # A new connection each time, so the kernel hands requests to either worker.
            with openai.OpenAI(base_url=url + "/v1", api_key="sk-test", max_retries=0) as client:
                raw = client.chat.completions.with_raw_response.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "same question"}])
            ids.add(raw.headers["x-tokenthrift-request-id"])
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
    ledger = open_ledger(f"sqlite:///{tmp_path}/ledger.db")
    rows = ledger.rows(limit=100)
    ledger.close()
    assert {row.request_id for row in rows} == ids
    # The exact cache is per worker: the question was a miss once in each of them, so
    # both workers answered, and both flushed their rows.
    assert sorted(row.cache_status for row in rows).count("miss") == 2

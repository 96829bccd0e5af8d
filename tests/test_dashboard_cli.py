"""``tokenthrift demo`` ends with the one command that opens the dashboard on its ledger,
and that command serves ``/ui`` with the demo's spend and savings by lever."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from click.testing import CliRunner

from tokenthrift.cli.main import cli
from tokenthrift.server.runner import free_port


def test_demo_ends_with_the_dashboard_command_and_it_shows_the_demo(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "-n", "40", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("Dashboard") and "http://127.0.0.1:8787/ui" in last
    command = last.split(": ", 1)[1].split(" then open ")[0]
    assert command == f"tokenthrift dashboard --data-dir {data_dir}"

    port = free_port()
    argv = [sys.executable, "-m", "tokenthrift.cli", *command.split()[1:], "--port", str(port)]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env={**os.environ})
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.stderr.read()  # type: ignore[union-attr]
            try:
                with urllib.request.urlopen(url + "/ui", timeout=2) as page:
                    assert b"dashboard.js" in page.read()
                break
            except OSError:
                assert time.monotonic() < deadline, "the dashboard did not come up"
                time.sleep(0.2)
        with urllib.request.urlopen(url + "/ui/api/data", timeout=10) as response:
            data = json.loads(response.read())
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
    assert data["totals"]["requests"] == 40
    assert data["totals"]["saved_usd"] > 0
    assert [lever["lever"] for lever in data["levers"]][:1] == ["exact_cache"]


def test_demo_json_names_the_dashboard(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["demo", "-n", "10", "--data-dir", str(tmp_path),
                                      "--format", "json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["dashboard"] == {"command": f"tokenthrift dashboard --data-dir {tmp_path}",
                                    "url": "http://127.0.0.1:8787/ui"}

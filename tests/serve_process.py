"""``tokenthrift serve`` as a subprocess, for tests that need the gateway as deployed.

The process writes stdout and stderr to a log file (never an unread pipe, which a
chatty process could fill and block on); a process that dies before it is healthy
fails the test with that log.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tokenthrift.server.runner import free_port


@dataclass
class ServeProcess:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"gateway exited early ({self.process.returncode}):\n"
                                     f"{self.output()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"gateway did not become healthy:\n{self.output()}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within 15 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_serve(config: Path, log: Path | None = None) -> ServeProcess:
    """Start ``tokenthrift serve --config CONFIG`` on a free port (not waited on)."""
    log = log or config.with_suffix(".log")
    port = free_port()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "tokenthrift.cli", "serve", "--config", str(config),
             "--port", str(port)],
            stdout=sink, stderr=sink, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return ServeProcess(process, f"http://127.0.0.1:{port}", log)


@contextmanager
def serving(config: Path, log: Path | None = None) -> Iterator[ServeProcess]:
    """A healthy ``tokenthrift serve`` process, stopped (killed if need be) on exit."""
    served = start_serve(config, log)
    try:
        served.wait_healthy()
        yield served
    finally:
        served.stop()

"""One gateway run of a replay: its config, and the ``serve`` and upstream processes.

A policy file is a gateway config holding lever sections (``cache``, ``routing``, …) and
optionally ``models`` (fallbacks, aliases) and ``pricing``. The run config is that file
with the upstream replaced by the bench upstream (the emulator on the trace's clock),
a fresh SQLite ledger, and **every registered lever the policy does not configure
switched off** — so a policy with only ``routing:`` measures routing alone (unlike
``serve``, where the exact cache is on by default). The baseline run switches every
lever off.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..config import ConfigError, parse_config
from ..registry import REGISTRY
from ..routes import speaks_anthropic
from ..server.runner import free_port

# How each lever's section says "off" when ``enabled: false`` is not its way.
OFF: Mapping[str, dict[str, Any]] = {"cache": {"exact": False, "semantic": False}}
# Keys of the policy that the replay owns.
_REPLACED = ("providers", "storage", "data_dir")
BENCH_KEY = "sk-bench-replay"


def load_policy(path: str | Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"policy file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"policy file {path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"policy file {path} must be a mapping at the top level")
    return raw


def off_section(name: str) -> dict[str, Any]:
    return deepcopy(dict(OFF.get(name, {"enabled": False})))


def run_config(policy: Mapping[str, Any], upstream_url: str, workdir: Path, *,
               levers_on: bool = True) -> dict[str, Any]:
    """The gateway config of one run (``levers_on=False``: the baseline, no levers)."""
    raw = {k: deepcopy(v) for k, v in policy.items() if k not in _REPLACED}
    raw["providers"] = {
        "openai": {"type": "openai", "base_url": upstream_url + "/v1", "api_key": "bench"},
        "anthropic": {"type": "anthropic", "base_url": upstream_url, "api_key": "bench"},
    }
    models = [dict(route) for route in raw.get("models") or ()]
    for route in models:
        name = str(route.get("upstream_model") or route.get("name", ""))
        route["provider"] = "anthropic" if speaks_anthropic(name) else "openai"
    raw["models"] = [*models, {"name": "claude*", "provider": "anthropic"},
                     {"name": "anthropic/*", "provider": "anthropic"},
                     {"name": "*", "provider": "openai"}]
    raw["storage"] = {"ledger": f"sqlite:///{workdir}/ledger.db"}
    raw["data_dir"] = str(workdir)
    for spec in REGISTRY:
        if not levers_on or spec.section not in policy:
            raw[spec.section] = off_section(spec.section)
    allowed = [s.section for s in REGISTRY if levers_on and s.section in policy]
    stray = [name for name in configured_levers(raw) if name not in allowed]
    if stray:  # a lever this harness cannot switch off would skew the comparison
        raise ConfigError(f"replay: cannot switch off {', '.join(stray)} "
                          f"(add its off form to OFF in tokenthrift/bench/runs.py)")
    return raw


def configured_levers(raw: dict[str, Any]) -> list[str]:
    """The levers ``raw`` leaves enabled, in pipeline order (each lever's own parser)."""
    config = parse_config(raw)
    enabled = []
    for spec in REGISTRY:
        settings = spec.parse_settings(config)
        if settings is None or settings.enabled:
            enabled.append(spec.section)
    return enabled


# --- processes ---------------------------------------------------------------------------


@dataclass(slots=True)
class Process:
    url: str
    popen: subprocess.Popen[bytes]
    log: Path

    def stop(self, timeout: float = 30.0) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()  # SIGTERM: uvicorn's lifespan closes the gateway
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def _start(args: list[str], url: str, health: str, log: Path, timeout: float = 120.0
           ) -> Process:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        popen = subprocess.Popen([sys.executable, *args], stdout=out, stderr=subprocess.STDOUT,
                                 env=env)
    process = Process(url, popen, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise RuntimeError(f"{args[1]} exited at start-up:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url + health, timeout=2):
                return process
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    process.stop()
    raise RuntimeError(f"{args[1]} did not answer on {url} within {timeout:.0f} s")


@contextmanager
def upstream_process(workdir: Path) -> Iterator[Process]:
    port = free_port()
    process = _start(["-m", "tokenthrift.bench.upstream", "--port", str(port)],
                     f"http://127.0.0.1:{port}", "/emulator/health", workdir / "upstream.log")
    try:
        yield process
    finally:
        process.stop()


@contextmanager
def gateway_process(config: dict[str, Any], workdir: Path) -> Iterator[Process]:
    """``tokenthrift serve`` on ``config``; stopping it flushes the ledger."""
    path = workdir / "gateway.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    process = _start(["-m", "tokenthrift", "serve", "--config", str(path), "--port", str(port)],
                     f"http://127.0.0.1:{port}", "/health", workdir / "serve.log")
    try:
        yield process
    finally:
        process.stop()

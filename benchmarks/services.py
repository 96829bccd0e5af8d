"""Start and stop the processes a gateway benchmark needs: the fast upstream and gateways.

Every service is a subprocess in its own session, listening on 127.0.0.1 only, with its
output in a log file; ``stop()`` ends exactly that process group. Gateways are started
with their default accounting on (tokenthrift: SQLite ledger + cost accounting;
LiteLLM: no database, offline cost map) and pointed at the same upstream.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
LITELLM_VENV = BENCH_DIR / ".venv-litellm"
HOST = "127.0.0.1"
UPSTREAM_KEY = "sk-bench"
# urllib would otherwise honour HTTP(S)_PROXY from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ServiceError(RuntimeError):
    """A service did not start or did not answer as expected."""


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    api_key: str = UPSTREAM_KEY
    version: str = ""

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def stop(self, grace: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(grace)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for services: no HTTP proxies, loopback never proxied."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["NO_PROXY"] = env["no_proxy"] = f"{HOST},localhost"
    env.update(extra or {})
    return env


def _spawn(name: str, argv: list[str], workdir: Path, env: dict[str, str]) -> tuple:
    log_path = workdir / f"{name}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, cwd=workdir, env=env, start_new_session=True
    )
    log.close()
    return process, log_path


def http_call(url: str, body: dict | None = None, api_key: str = "", timeout: float = 5.0):
    """GET (or POST ``body`` as JSON) and return (status, parsed JSON or None)."""
    headers = {"content-type": "application/json"}
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        raw, status = error.read(), error.code
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, None


def wait_ready(service: Service, path: str, timeout: float) -> None:
    """Poll ``path`` until it answers 200, the process dies, or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise ServiceError(f"{service.name} exited:\n{service.log_tail()}")
        try:
            if http_call(service.base_url + path, timeout=1.0)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.25)
    service.stop()
    raise ServiceError(f"{service.name} not ready after {timeout:.0f}s:\n{service.log_tail()}")


def smoke_test(service: Service, model: str = "gpt-4o-mini") -> None:
    """One chat completion through ``service``; it must be a 200 with a usage object."""
    body = {"model": model, "messages": [{"role": "user", "content": "smoke test"}]}
    url = service.base_url + "/v1/chat/completions"
    status, answer = http_call(url, body, api_key=service.api_key, timeout=30.0)
    if status != 200 or not isinstance(answer, dict) or "usage" not in answer:
        raise ServiceError(f"{service.name} smoke test: {status} {answer}\n{service.log_tail()}")


# -- the upstream ----------------------------------------------------------------------


def start_upstream(workdir: Path) -> Service:
    port = free_port()
    argv = [sys.executable, str(BENCH_DIR / "fast_upstream.py"), "--port", str(port)]
    process, log_path = _spawn("upstream", argv, workdir, child_env())
    service = Service("upstream", process, port, log_path)
    wait_ready(service, "/v1/models", timeout=15.0)
    return service


# -- tokenthrift -----------------------------------------------------------------------


def tokenthrift_executable() -> Path:
    beside = Path(sys.executable).parent / "tokenthrift"
    return beside if beside.exists() else ROOT / ".venv" / "bin" / "tokenthrift"


def tokenthrift_config(upstream_port: int, workdir: Path) -> Path:
    path = workdir / "tokenthrift.yaml"
    path.write_text(
        "providers:\n"
        f'  fast: {{type: openai, base_url: "http://{HOST}:{upstream_port}/v1", '
        f"api_key: {UPSTREAM_KEY}}}\n"
        "models:\n"
        '  - name: "*"\n'
        "    provider: fast\n"
        "storage:\n"
        f'  ledger: "{ledger_url(workdir)}"\n'
    )
    return path


def ledger_url(workdir: Path) -> str:
    """SQLite in the run's directory, or ``$TOKENTHRIFT_BENCH_LEDGER`` (e.g. a PostgreSQL
    URL, the ledger several workers or replicas share without serialising on one file)."""
    return os.environ.get("TOKENTHRIFT_BENCH_LEDGER") or f"sqlite:///{workdir}/ledger.db"


def start_tokenthrift(
    upstream: Service, workdir: Path, startup_timeout: float = 60.0, workers: int = 1
) -> Service:
    port = free_port()
    config = tokenthrift_config(upstream.port, workdir)
    executable = str(tokenthrift_executable())
    argv = [executable, "serve", "--config", str(config), "--host", HOST, "--port", str(port)]
    argv += ["--workers", str(workers)] if workers > 1 else []
    process, log_path = _spawn("tokenthrift", argv, workdir, child_env())
    service = Service("tokenthrift", process, port, log_path, version=_git_revision())
    wait_ready(service, "/health", startup_timeout)
    smoke_test(service)
    return service


def ledger_rows(workdir: Path) -> int | None:
    """Rows in tokenthrift's SQLite ledger after a run (a sanity check that it kept up)."""
    path = workdir / "ledger.db"
    if not path.exists():
        return None
    try:
        with closing(sqlite3.connect(path)) as db:
            return int(db.execute("SELECT count(*) FROM ledger").fetchone()[0])
    except sqlite3.Error:
        return None


def tokenthrift_available() -> tuple[bool, str]:
    """Whether ``tokenthrift serve`` exists yet (the gateway is written in parallel)."""
    try:
        done = subprocess.run(
            [str(tokenthrift_executable()), "serve", "--help"],
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return False, str(error)
    output = (done.stdout + done.stderr).decode(errors="replace")
    return done.returncode == 0 and "--config" in output, output[-500:]


def _git_revision() -> str:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        check=False,
    )
    revision = done.stdout.decode().strip() if done.returncode == 0 else "uncommitted"
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "src"], capture_output=True, check=False
    ).stdout.strip()
    return f"{revision}{'+dirty' if dirty else ''}"


# -- LiteLLM ---------------------------------------------------------------------------


def litellm_config(upstream_port: int, workdir: Path, master_key: str) -> Path:
    path = workdir / "litellm.yaml"
    path.write_text(
        "model_list:\n"
        "  - model_name: gpt-4o-mini\n"
        "    litellm_params:\n"
        "      model: openai/gpt-4o-mini\n"
        f"      api_base: http://{HOST}:{upstream_port}/v1\n"
        f"      api_key: {UPSTREAM_KEY}\n"
        "litellm_settings:\n"
        "  set_verbose: false\n"
        "  turn_off_message_logging: true\n"
        "general_settings:\n"
        # LiteLLM refuses to start without a master key; there is no database.
        f"  master_key: {master_key}\n"
    )
    return path


def litellm_env() -> dict[str, str]:
    return child_env(
        {
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # never fetch the price list at start
            "LITELLM_LOG": "ERROR",
            "LITELLM_TELEMETRY_DISABLED": "true",
            "DISABLE_ADMIN_UI": "True",
            "HF_HUB_OFFLINE": "1",  # tokenizers must never be fetched from the hub
            "TOKENIZERS_PARALLELISM": "false",
        }
    )


def litellm_version() -> str:
    done = subprocess.run(
        [
            str(LITELLM_VENV / "bin" / "python"),
            "-c",
            "import importlib.metadata as m; print(m.version('litellm'))",
        ],
        capture_output=True,
        check=False,
    )
    return done.stdout.decode().strip()


def start_litellm(upstream: Service, workdir: Path, startup_timeout: float = 120.0) -> Service:
    executable = LITELLM_VENV / "bin" / "litellm"
    if not executable.exists():
        raise ServiceError(f"{executable} missing: run benchmarks/setup_litellm.sh first")
    port = free_port()
    master_key = "sk-" + secrets.token_hex(32)
    config = litellm_config(upstream.port, workdir, master_key)
    argv = [str(executable), "--config", str(config), "--host", HOST, "--port", str(port)]
    argv += ["--num_workers", "1"]
    process, log_path = _spawn("litellm", argv, workdir, litellm_env())
    service = Service("litellm", process, port, log_path, master_key, litellm_version())
    wait_ready(service, "/health/liveliness", startup_timeout)
    smoke_test(service)
    return service

"""Shared pieces of the governance tests: a priced model, the admin API, a webhook receiver.

Prices are chosen so costs are exact: ``gpt-4o-mini`` is overridden to $1000 per MTok in
and out, i.e. $0.001 per token, and ``ask(...)`` makes the emulator answer a fixed reply,
so a request with ``max_tokens`` = the reply's length reserves exactly what it costs.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from gateway_harness import config_for
from tokenthrift.config import GatewayConfig
from tokenthrift.tokens import count_chat, count_text

MASTER_KEY = "tt-master-0b7c1e9d2f"
MODEL = "gpt-4o-mini"
PRICING = {MODEL: {"input_per_mtok": 1000, "output_per_mtok": 1000}}
USD_PER_TOKEN = Decimal("0.001")
REPLY = "one two three four five"
PROMPT = f"hello [[emulator:reply={REPLY}]]"
REPLY_TOKENS = count_text(REPLY, MODEL)
PROMPT_TOKENS = count_chat([("user", PROMPT)], MODEL)
# What one ask() costs, and reserves when it carries max_tokens=REPLY_TOKENS.
COST = (PROMPT_TOKENS + REPLY_TOKENS) * USD_PER_TOKEN


def governed_config(tmp_path: Path, governance: dict[str, Any] | None = None,
                    **raw: Any) -> GatewayConfig:
    base: dict[str, Any] = {
        "providers": {"emu": {"type": "emulator"}},
        "models": [{"name": "*", "provider": "emu"}],
        "retry": {"max_retries": 0},
        "pricing": PRICING,
        "master_key": MASTER_KEY,
        # Identical requests must reach the upstream (and cost money) in these tests.
        "cache": {"exact": False},
        "governance": {"refresh_s": 0.2, **(governance or {})},
    }
    base.update(raw)
    return config_for(tmp_path, base)


def chat_body(**extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}],
            "max_tokens": REPLY_TOKENS, **extra}


def call(url: str, method: str = "GET", body: Any = None, *, key: str | None = MASTER_KEY,
         headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
    """An HTTP call; (status, parsed JSON body, lower-cased headers)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"content-type": "application/json",
                                              **(headers or {})})
    if key is not None:
        request.add_header("authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read()), _lower(answer.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), _lower(error.headers)


def _lower(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def create_key(url: str, **fields: Any) -> dict[str, Any]:
    status, body, _ = call(url + "/admin/keys", "POST", fields)
    assert status == 200, body
    return body


def set_budget(url: str, **fields: Any) -> dict[str, Any]:
    status, body, _ = call(url + "/admin/budgets", "POST", fields)
    assert status == 200, body
    return body


class WebhookReceiver:
    """A local HTTP endpoint recording the JSON it is POSTed; ``fail_first`` answers 500."""

    def __init__(self, fail_first: int = 0) -> None:
        self.received: list[dict[str, Any]] = []
        self.attempts = 0
        self._fail_first = fail_first
        self._event = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                with receiver._event:
                    receiver.attempts += 1
                    failing = receiver.attempts <= receiver._fail_first
                    if not failing:
                        receiver.received.append(body)
                    receiver._event.notify_all()
                self.send_response(500 if failing else 204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook?token=s3cret"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        with self._event:
            self._event.wait_for(lambda: len(self.received) >= count, timeout)
            return list(self.received)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def webhook_receiver(fail_first: int = 0) -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(fail_first)
    try:
        yield receiver
    finally:
        receiver.close()


def _port_outside_the_ephemeral_range() -> int:
    """A free port the kernel never hands out to an outgoing connection, so that while the
    link is cut no client socket can take it and the restore can bind it again."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(max(1024, low - 12000), low)
        with contextlib.suppress(OSError), socket.create_server(("127.0.0.1", port)):
            return port
    raise RuntimeError("no free port below the ephemeral range")


class CuttableProxy:
    """A TCP relay to ``target`` on a local port, whose link can be cut and restored:
    a database outage without stopping the shared database. While cut, connections are
    refused and the ones open are closed."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread
        self.port = _port_outside_the_ephemeral_range()
        self.restore()

    def restore(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port))  # SO_REUSEADDR on POSIX
        listener.settimeout(0.05)
        self._listener = listener
        self._acceptor = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._acceptor.start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            # A close alone leaves the port listening while the accept thread is inside
            # accept(): wait for that thread, so a restore can bind the port again.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            self._acceptor.join(timeout=5)
            listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._listener is not listener:  # cut while this one was being accepted
                client.close()
                return
            client.settimeout(None)
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


@contextmanager
def cuttable_proxy(url: str) -> Iterator[tuple[CuttableProxy, str]]:
    """A proxy in front of the PostgreSQL at ``url``, and the same URL through it."""
    parts = urlsplit(url)
    proxy = CuttableProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{proxy.port}"
    through = parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host)
    try:
        yield proxy, urlunsplit(through)
    finally:
        proxy.cut()


@contextmanager
def redis_keys_under(url: str, prefix: str) -> Iterator[str]:
    """``prefix``, with every Redis key under it deleted afterwards."""
    import redis

    try:
        yield prefix
    finally:
        client = redis.Redis.from_url(url)
        for key in client.scan_iter(match=prefix + "*"):
            client.delete(key)
        client.close()

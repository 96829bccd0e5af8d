"""Shared pieces of the governance tests: a priced model, the admin API, a webhook receiver.

Prices are chosen so costs are exact: ``gpt-4o-mini`` is overridden to $1000 per MTok in
and out, i.e. $0.001 per token, and ``ask(...)`` makes the emulator answer a fixed reply,
so a request with ``max_tokens`` = the reply's length reserves exactly what it costs.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

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

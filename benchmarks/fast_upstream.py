"""A minimal, very fast OpenAI-compatible upstream for gateway benchmarks.

It answers ``POST /v1/chat/completions`` (non-streaming) with a fixed, valid
``chat.completion`` body and ``GET /v1/models`` with a one-model list, over keep-alive
HTTP/1.1. It is a raw asyncio ``Protocol`` on uvloop with httptools parsing, so it costs
as little CPU per request as we can get in Python: the benchmark wants the gateway, not
the upstream, to be what is measured. It never reads the request body.

Run: ``python benchmarks/fast_upstream.py --port 0`` prints ``listening on PORT`` once
ready and serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal
import sys
import time
from typing import cast

import httptools
import orjson
import uvloop

MODEL = "gpt-4o-mini-2024-07-18"
PROMPT_TOKENS = 25
COMPLETION_TOKENS = 12
ID_MARKER = "chatcmpl-@@@@@@@@@@@@"  # replaced per response by a 12-digit counter


def _completion_template() -> tuple[bytes, bytes]:
    """The chat.completion body split around the id, so each response gets a unique id."""
    body = {
        "id": ID_MARKER,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "The capital of France is Paris, as it has been for centuries.",
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": PROMPT_TOKENS,
            "completion_tokens": COMPLETION_TOKENS,
            "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": "fp_bench0001",
    }
    head, tail = orjson.dumps(body).split(ID_MARKER.encode())
    return head + b"chatcmpl-", tail


def _headers(status: bytes, length: int) -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\n"
        b"content-type: application/json\r\n"
        b"content-length: " + str(length).encode() + b"\r\n\r\n"
    )


def _response(status: bytes, body: bytes) -> bytes:
    return _headers(status, len(body)) + body


COMPLETION_HEAD, COMPLETION_TAIL = _completion_template()
# The id counter is fixed-width, so the completion's length and headers never change.
COMPLETION_HEADERS = _headers(b"200 OK", len(COMPLETION_HEAD) + 12 + len(COMPLETION_TAIL))
MODELS = _response(
    b"200 OK",
    orjson.dumps(
        {
            "object": "list",
            "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "bench"}],
        }
    ),
)
NOT_FOUND = _response(b"404 Not Found", b'{"error":{"message":"not found","type":"not_found"}}')
BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class UpstreamProtocol(asyncio.Protocol):
    """One client connection; httptools calls back ``on_url``/``on_message_complete``."""

    ids = itertools.count(1)

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._write(BAD_REQUEST)
            self._close()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_message_complete(self) -> None:
        url, self.url = self.url, b""
        self._write(self._answer(self.parser.get_method(), url.split(b"?", 1)[0]))
        if not self.parser.should_keep_alive():
            self._close()

    def _answer(self, method: bytes, path: bytes) -> bytes:
        if method == b"POST" and path == b"/v1/chat/completions":
            completion_id = b"%012d" % next(self.ids)
            return COMPLETION_HEADERS + COMPLETION_HEAD + completion_id + COMPLETION_TAIL
        if method == b"GET" and path == b"/v1/models":
            return MODELS
        return NOT_FOUND

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(UpstreamProtocol, host, port, backlog=4096)
    bound = server.sockets[0].getsockname()[1]
    print(f"listening on {bound}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the benchmark upstream only listens on loopback")
    uvloop.run(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())

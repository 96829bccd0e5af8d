"""The official SDKs wired to canned HTTP answers (no network), for wire-format tests.

``replying`` makes an SDK client whose every request gets the given body back, so a
test can check that what the wire layer renders is what the SDK parses. ``capturing``
records the JSON body the SDK sends, so parsers can be fed real SDK requests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anthropic
import httpx2
import openai
import orjson

Handler = Callable[[httpx2.Request], httpx2.Response]


def _answer(status: int, body: bytes | dict[str, Any]) -> Handler:
    if isinstance(body, dict):
        content, content_type = orjson.dumps(body), "application/json"
    else:
        content, content_type = body, "text/event-stream"

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, content=content, headers={"content-type": content_type})

    return handler


def openai_client(handler: Handler) -> openai.OpenAI:
    http = httpx2.Client(transport=httpx2.MockTransport(handler))
    return openai.OpenAI(
        api_key="test", base_url="http://gateway.test/v1", http_client=http, max_retries=0
    )


def anthropic_client(handler: Handler) -> anthropic.Anthropic:
    http = httpx2.Client(transport=httpx2.MockTransport(handler))
    return anthropic.Anthropic(
        api_key="test", base_url="http://gateway.test", http_client=http, max_retries=0
    )


def openai_replying(body: bytes | dict[str, Any], status: int = 200) -> openai.OpenAI:
    return openai_client(_answer(status, body))


def anthropic_replying(body: bytes | dict[str, Any], status: int = 200) -> anthropic.Anthropic:
    return anthropic_client(_answer(status, body))


class Capture:
    """A handler that records request bodies and answers with ``reply``."""

    def __init__(self, reply: dict[str, Any]) -> None:
        self.reply = reply
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.bodies.append(orjson.loads(request.content))
        return httpx2.Response(
            200, content=orjson.dumps(self.reply), headers={"content-type": "application/json"}
        )


OPENAI_COMPLETION = {
    "id": "chatcmpl-x",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
    ],
}
ANTHROPIC_MESSAGE = {
    "id": "msg_x",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [{"type": "text", "text": "ok"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 1, "output_tokens": 1},
}


def sent_by_openai_sdk(**params: Any) -> dict[str, Any]:
    """The JSON body ``openai`` sends for ``chat.completions.create(**params)``."""
    capture = Capture(OPENAI_COMPLETION)
    openai_client(capture).chat.completions.create(**params)
    return capture.bodies[0]


def sent_by_anthropic_sdk(**params: Any) -> dict[str, Any]:
    """The JSON body ``anthropic`` sends for ``messages.create(**params)``."""
    capture = Capture(ANTHROPIC_MESSAGE)
    anthropic_client(capture).messages.create(**params)
    return capture.bodies[0]

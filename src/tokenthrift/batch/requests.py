"""Input lines of ``batch run``: OpenAI batch JSONL or simple lines, one request each.

* OpenAI batch format: ``{"custom_id", "method": "POST", "url": "/v1/chat/completions",
  "body": {...}}`` (the body is sent as is);
* simple: ``{"custom_id", "messages": [...], ...params}``; ``custom_id`` defaults to the
  line number.

``--model`` fills in the model of lines that name none. A Claude model goes
to Anthropic Message Batches: its body is written in Anthropic's format (``system`` out of
the messages, ``max_tokens`` required, default 1024).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ..routes import speaks_anthropic

DEFAULT_MAX_TOKENS = 1024
_OPENAI_ONLY = ("n", "logprobs", "top_logprobs", "presence_penalty", "frequency_penalty",
                "response_format", "seed", "logit_bias", "user", "store")


@dataclass(frozen=True, slots=True)
class BatchRequest:
    line: int  # 0-based position in the input (results keep this order)
    custom_id: str
    model: str
    protocol: str  # "openai" | "anthropic"
    body: dict[str, Any]  # in the protocol's wire format
    size: int  # bytes of its line in the upload


class InputError(ValueError):
    pass


def read_requests(path: Path, model: str | None = None) -> list[BatchRequest]:
    requests: list[BatchRequest] = []
    seen: set[str] = set()
    for index, item in enumerate(_lines(path)):
        request = normalise(index, item, model)
        if request.custom_id in seen:
            raise InputError(f"line {index + 1}: duplicate custom_id {request.custom_id!r}")
        seen.add(request.custom_id)
        requests.append(request)
    if not requests:
        raise InputError(f"{path}: no requests")
    return requests


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                item = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise InputError(f"line {number}: not JSON ({exc})") from None
            if not isinstance(item, dict):
                raise InputError(f"line {number}: expected a JSON object")
            yield item


def normalise(index: int, item: dict[str, Any], model: str | None) -> BatchRequest:
    custom_id = str(item.get("custom_id") or f"line-{index + 1}")
    if "body" in item:
        body = dict(item["body"]) if isinstance(item["body"], dict) else None
        if body is None:
            raise InputError(f"line {index + 1}: body must be an object")
        if model and not body.get("model"):
            body["model"] = model
    else:
        body = {k: v for k, v in item.items() if k != "custom_id"}
        if model and not body.get("model"):
            body["model"] = model
    name = body.get("model")
    if not isinstance(name, str) or not name:
        raise InputError(f"line {index + 1}: no model (give one in the line or --model)")
    if not isinstance(body.get("messages"), list):
        raise InputError(f"line {index + 1}: messages must be a list")
    body.pop("stream", None)
    protocol = "anthropic" if speaks_anthropic(name) else "openai"
    if protocol == "anthropic":
        body = _anthropic_body(body)
    size = len(orjson.dumps({"custom_id": custom_id, "body": body})) + 80
    return BatchRequest(index, custom_id, name, protocol, body, size)


def _anthropic_body(body: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in body.items() if k not in _OPENAI_ONLY}
    messages = out["messages"]
    system = [m.get("content") for m in messages if isinstance(m, dict) and m.get("role") in (
        "system", "developer")]
    if system:
        out["system"] = "\n\n".join(str(s) for s in system)
        out["messages"] = [m for m in messages if m.get("role") not in ("system", "developer")]
    limit = out.pop("max_completion_tokens", None) or out.get("max_tokens") or DEFAULT_MAX_TOKENS
    out["max_tokens"] = limit
    if "stop" in out:
        stop = out.pop("stop")
        out["stop_sequences"] = [stop] if isinstance(stop, str) else stop
    return out

"""Admin endpoints under ``/emulator/``: scripted faults, statistics, reset.

``POST /emulator/faults`` takes one fault or a list (``{"kind": "status", "status":
429, "retry_after": 2}``), ``GET`` lists pending faults, ``DELETE`` clears them;
``GET /emulator/health`` answers ``{"status": "ok"}``;
``GET /emulator/stats`` counts requests by path, model and status; ``GET
/emulator/answers/TAG`` says what a tagged answer was made for (``answer_tags``); ``POST
/emulator/reset`` forgets caches, rate-limit state, faults and stats. They need no API
key: the emulator is a local development and test tool.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from ..providers.transport import UpstreamReply
from .config import Fault

if TYPE_CHECKING:
    from .core import Emulator

_HEADERS = {"content-type": "application/json"}


def _json(status: int, payload: Any) -> UpstreamReply:
    return UpstreamReply(status, dict(_HEADERS), body=orjson.dumps(payload))


def _error(status: int, message: str) -> UpstreamReply:
    return _json(status, {"error": {"message": message, "type": "invalid_request_error"}})


def _add_faults(emulator: Emulator, body: bytes | None) -> UpstreamReply:
    try:
        data = orjson.loads(body or b"")
        items = data if isinstance(data, list) else [data]
        faults = [Fault.from_dict(item) for item in items]
    except (orjson.JSONDecodeError, TypeError, ValueError, AttributeError) as exc:
        return _error(400, f"invalid fault: {exc}")
    for fault in faults:
        emulator.add_fault(fault)
    return _json(201, {"faults": [f.to_dict() for f in emulator.faults]})


def admin_reply(emulator: Emulator, method: str, path: str, body: bytes | None) -> UpstreamReply:
    if path == "/emulator/faults":
        if method == "POST":
            return _add_faults(emulator, body)
        if method == "DELETE":
            emulator.clear_faults()
            return _json(200, {"faults": []})
        if method == "GET":
            return _json(200, {"faults": [f.to_dict() for f in emulator.faults]})
    elif path == "/emulator/health" and method == "GET":
        return _json(200, {"status": "ok"})
    elif path == "/emulator/stats" and method == "GET":
        return _json(200, emulator.stats())
    elif path.startswith("/emulator/answers/") and method == "GET":
        record = emulator.answer(path.removeprefix("/emulator/answers/"))
        return _json(200, record) if record else _error(404, "no answer with that tag")
    elif path == "/emulator/reset" and method == "POST":
        emulator.reset()
        return _json(200, {"reset": True})
    return _error(404, f"Invalid URL ({method} {path})")

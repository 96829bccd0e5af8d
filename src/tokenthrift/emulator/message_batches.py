"""Anthropic Message Batches (``/v1/messages/batches``): create, retrieve, list, cancel,
delete and results (API reference, "Message Batches").

``processing_status`` is ``in_progress``, ``canceling`` or ``ended``; ``request_counts``
splits the requests into processing / succeeded / errored / canceled / expired. Each
request's ``params`` is validated when its turn comes (an invalid one is an ``errored``
result, not a failed batch); a batch holds up to 100,000 requests or 256 MB. Results are
JSONL: ``{"custom_id", "result": {"type": "succeeded", "message": {...}}}`` or
``errored`` (with the error body), ``canceled``, ``expired``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import orjson

from .batch_run import BatchRun
from .replies import invalid

MAX_REQUESTS = 100_000
MAX_BYTES = 256 * 1024 * 1024
_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def parse_requests(payload: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    items = payload.get("requests")
    if not isinstance(items, list) or not items:
        raise invalid("requests: Field required (a non-empty list)")
    if len(items) > MAX_REQUESTS:
        raise invalid(f"requests: at most {MAX_REQUESTS:,} requests per batch")
    seen: set[str] = set()
    requests = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise invalid(f"requests.{index}: Input should be an object")
        custom_id, params = item.get("custom_id"), item.get("params")
        if not isinstance(custom_id, str) or not _CUSTOM_ID.match(custom_id):
            raise invalid(f"requests.{index}.custom_id: String should match pattern "
                          "'^[a-zA-Z0-9_-]{1,64}$'")
        if custom_id in seen:
            raise invalid(f"Duplicate custom_id {custom_id!r}: each custom_id must be unique "
                          "within a batch")
        if not isinstance(params, dict):
            raise invalid(f"requests.{index}.params: Field required")
        seen.add(custom_id)
        requests.append((custom_id, params))
    return requests


def rfc3339(moment: float | None) -> str | None:
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def status_of(phase: str) -> str:
    if phase in ("validating", "in_progress", "finalizing"):
        return "in_progress"
    return "canceling" if phase == "cancelling" else "ended"


def counts(run: BatchRun, phase: str) -> dict[str, int]:
    ok = sum(1 for status, _ in run.results if status == 200)
    errored = len(run.results) - ok
    left = len(run.requests) - len(run.results)
    ended = status_of(phase) == "ended"
    return {"processing": 0 if ended else left, "succeeded": ok, "errored": errored,
            "canceled": left if ended and phase == "cancelled" else 0,
            "expired": left if ended and phase == "expired" else 0}


def batch_json(run: BatchRun, phase: str, since: float | None, base_url: str
               ) -> dict[str, Any]:
    status = status_of(phase)
    ended = status == "ended"
    return {
        "id": run.id, "type": "message_batch", "processing_status": status,
        "request_counts": counts(run, phase),
        "ended_at": rfc3339(since) if ended else None,
        "created_at": rfc3339(run.created_at), "expires_at": rfc3339(run.expires_at),
        "archived_at": None, "cancel_initiated_at": rfc3339(run.cancel_requested_at),
        "results_url": f"{base_url}/v1/messages/batches/{run.id}/results" if ended else None,
    }


def results(run: BatchRun, phase: str) -> bytes:
    lines = []
    for (custom_id, _), (status, body) in zip(run.requests, run.results, strict=False):
        result = ({"type": "succeeded", "message": body} if status == 200
                  else {"type": "errored", "error": body})
        lines.append(orjson.dumps({"custom_id": custom_id, "result": result}))
    kind = "canceled" if phase == "cancelled" else "expired"
    for custom_id, _ in run.requests[len(run.results):]:
        lines.append(orjson.dumps({"custom_id": custom_id, "result": {"type": kind}}))
    return b"\n".join(lines) + b"\n"

"""OpenAI Batch API (``/v1/batches``) over the Files API: validation of the input JSONL,
the status lifecycle, output and error files, ``request_counts`` and ``usage``.

Shapes follow the API reference ("Batch object", "The request output object"): an output
line is ``{"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"}``;
requests that answered an error status go to the error file with their response, requests
the batch never reached (expired, cancelled) with ``response: null`` and an ``error``
(``batch_expired`` / ``batch_cancelled``). One batch serves one endpoint and one model, up to
50,000 requests and 200 MB (Batch guide, "Rate limits").
"""

from __future__ import annotations

from typing import Any

import orjson

from .batch_run import BatchRun
from .replies import ApiError, random_id

ENDPOINTS = ("/v1/chat/completions", "/v1/embeddings")
MAX_REQUESTS = 50_000
_TIMESTAMPS = {"in_progress": "in_progress_at", "finalizing": "finalizing_at",
               "completed": "completed_at", "failed": "failed_at", "expired": "expired_at",
               "cancelling": "cancelling_at", "cancelled": "cancelled_at"}
_UNREACHED = {"expired": ("batch_expired", "This request could not be executed before the "
                                           "completion window expired."),
              "cancelled": ("batch_cancelled", "This request was cancelled with its batch.")}


def validate_lines(content: bytes, endpoint: str
                   ) -> tuple[list[tuple[str, dict[str, Any]]], list[dict[str, Any]]]:
    """The requests of an input file, and the validation errors that fail the batch."""
    requests: list[tuple[str, dict[str, Any]]] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    models: set[str] = set()

    def error(code: str, message: str, line: int, param: str | None = None) -> None:
        errors.append({"code": code, "message": message, "param": param, "line": line})

    for number, raw in enumerate(content.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            item = orjson.loads(raw)
        except orjson.JSONDecodeError:
            error("invalid_json_line", "This line is not parseable as valid JSON.", number)
            continue
        if not isinstance(item, dict):
            error("invalid_request", "Each line must be a JSON object.", number)
            continue
        custom_id, body = item.get("custom_id"), item.get("body")
        if not isinstance(custom_id, str) or not custom_id:
            error("missing_required_parameter", "Missing 'custom_id'.", number, "custom_id")
        elif custom_id in seen:
            error("duplicate_custom_id", "The custom_id for this request is a duplicate of "
                  "another request. The custom_id parameter must be unique for each request "
                  "in a batch.", number, "custom_id")
        if item.get("method") != "POST":
            error("invalid_method", "Only POST requests are supported.", number, "method")
        if item.get("url") != endpoint:
            error("mismatched_endpoint", f"The provided url {item.get('url')!r} does not match "
                  f"the batch endpoint {endpoint!r}.", number, "url")
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            error("missing_required_parameter", "Missing 'body.model'.", number, "body.model")
            continue
        models.add(body["model"])
        if isinstance(custom_id, str) and custom_id:
            seen.add(custom_id)
            requests.append((custom_id, body))
    if len(models) > 1:
        error("mismatched_model", "Requests in a batch must all use the same model; found "
              f"{', '.join(sorted(models))}.", 0, "body.model")
    if not requests and not errors:
        error("empty_file", "The input file has no requests.", 0)
    if len(requests) > MAX_REQUESTS:
        error("too_many_requests", f"A batch may hold at most {MAX_REQUESTS:,} requests.", 0)
    return requests, errors


def counts(run: BatchRun, phase: str) -> dict[str, int]:
    ok = sum(1 for status, _ in run.results if status == 200)
    failed = len(run.results) - ok
    if phase in _UNREACHED:
        failed += len(run.requests) - len(run.results)
    return {"total": len(run.requests), "completed": ok, "failed": failed}


def usage(run: BatchRun) -> dict[str, Any]:
    total_in = cached = out = reasoning = 0
    for status, body in run.results:
        found = body.get("usage") if status == 200 else None
        if isinstance(found, dict):
            total_in += int(found.get("prompt_tokens") or 0)
            out += int(found.get("completion_tokens") or 0)
            cached += int((found.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
            reasoning += int((found.get("completion_tokens_details") or {})
                             .get("reasoning_tokens") or 0)
    return {"input_tokens": total_in, "output_tokens": out, "total_tokens": total_in + out,
            "input_tokens_details": {"cached_tokens": cached},
            "output_tokens_details": {"reasoning_tokens": reasoning}}


def output_lines(run: BatchRun, phase: str) -> tuple[bytes, bytes]:
    """(output file, error file) contents once the batch has ended."""
    good: list[bytes] = []
    bad: list[bytes] = []
    for (custom_id, _), (status, body) in zip(run.requests, run.results, strict=False):
        line = {"id": random_id("batch_req_", 12), "custom_id": custom_id,
                "response": {"status_code": status, "request_id": random_id("req_", 16),
                             "body": body}, "error": None}
        (good if status == 200 else bad).append(orjson.dumps(line))
    if phase in _UNREACHED:
        code, message = _UNREACHED[phase]
        for custom_id, _ in run.requests[len(run.results):]:
            bad.append(orjson.dumps({"id": random_id("batch_req_", 12), "custom_id": custom_id,
                                     "response": None,
                                     "error": {"code": code, "message": message}}))
    return b"\n".join(good) + (b"\n" if good else b""), b"\n".join(bad) + (b"\n" if bad else b"")


def batch_json(run: BatchRun, extra: dict[str, Any], phase: str, since: float | None,
               history: dict[str, int]) -> dict[str, Any]:
    if since is not None and phase in _TIMESTAMPS:
        history.setdefault(_TIMESTAMPS[phase], int(since))
    if phase in ("cancelling", "cancelled") and run.cancel_requested_at is not None:
        history.setdefault("cancelling_at", int(run.cancel_requested_at))
    if phase in ("finalizing", "completed") or (phase in _UNREACHED and run.results):
        history.setdefault("in_progress_at", int(run.started_at))
    body: dict[str, Any] = {
        "id": run.id, "object": "batch", "endpoint": extra["endpoint"],
        "errors": extra.get("errors"), "input_file_id": extra["input_file_id"],
        "completion_window": "24h", "status": phase,
        "output_file_id": extra.get("output_file_id"),
        "error_file_id": extra.get("error_file_id"),
        "created_at": int(run.created_at), "expires_at": int(run.expires_at),
        "request_counts": counts(run, phase), "metadata": run.metadata,
        "usage": usage(run),
    }
    for key in _TIMESTAMPS.values():
        body[key] = history.get(key)
    return body


def not_found(batch_id: str) -> ApiError:
    return ApiError(404, f"No batch found with id '{batch_id}'.")

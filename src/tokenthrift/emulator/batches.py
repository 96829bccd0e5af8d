"""The emulator's Batch APIs: OpenAI Files + Batches and Anthropic Message Batches, on
simulated time that can be accelerated (``batch_clock``).

Routes (plus ``/emulator/batches/advance`` ``{"seconds": N}`` and
``/emulator/batches/time_scale`` ``{"time_scale": X}`` to drive the simulated clock)::

    POST/GET /v1/files · GET/DELETE /v1/files/{id} · GET /v1/files/{id}/content
    POST/GET /v1/batches · GET /v1/batches/{id} · POST /v1/batches/{id}/cancel
    POST/GET /v1/messages/batches · GET/DELETE /v1/messages/batches/{id}
    POST /v1/messages/batches/{id}/cancel · GET /v1/messages/batches/{id}/results

Each request of a batch runs through the same endpoint code as a synchronous call (token
counts, prompt caching, errors), so a batch result is what the synchronous call returns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from ..providers.transport import UpstreamReply
from . import anthropic_api, embeddings, message_batches, openai_batches, openai_chat
from .batch_clock import BatchClock
from .batch_run import BatchRun, Timing
from .files import FileStore, parse_upload
from .replies import ApiError, Protocol, invalid, random_id
from .state import EmulatorState

PREFIXES = ("/v1/files", "/v1/batches", "/v1/messages/batches", "/emulator/batches")
_JSON = "application/json"
_ENDPOINT_RUNNERS = {"/v1/chat/completions": openai_chat.chat_completions,
                     "/v1/embeddings": embeddings.embeddings}
Authenticate = Callable[[dict[str, str], Protocol], str]


@dataclass(slots=True)
class _OpenAIBatch:
    run: BatchRun
    extra: dict[str, Any]
    history: dict[str, int] = field(default_factory=dict)


class BatchAPIs:
    def __init__(self, state: EmulatorState, clock: BatchClock, timing: Timing) -> None:
        self.state = state
        self.clock = clock
        self.timing = timing
        self.files = FileStore()
        self.openai: dict[str, _OpenAIBatch] = {}
        self.anthropic: dict[str, BatchRun] = {}

    def clear(self) -> None:
        self.files.clear()
        self.openai.clear()
        self.anthropic.clear()

    @staticmethod
    def handles(path: str) -> bool:
        return path.startswith(PREFIXES)

    @staticmethod
    def family(path: str) -> str:
        """The route family ``path`` belongs to (stats count per family, not per id)."""
        return next((p for p in reversed(PREFIXES) if path.startswith(p)), path)

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes | None,
               authenticate: Authenticate) -> UpstreamReply:
        protocol: Protocol = "anthropic" if path.startswith("/v1/messages/") else "openai"
        try:
            if path.startswith("/emulator/batches"):
                return self._admin(method, path, body)
            org = authenticate(headers, protocol)
            if protocol == "anthropic":
                if "anthropic-version" not in headers:
                    raise invalid("anthropic-version: header is required")
                return self._anthropic(method, path, org, body, headers.get("host"))
            return self._openai(method, path, org, headers, body)
        except ApiError as error:
            return UpstreamReply(error.status, {"content-type": _JSON},
                                 body=orjson.dumps(error.body(protocol)))

    # -- OpenAI ------------------------------------------------------------------------

    def _openai(self, method: str, path: str, org: str, headers: Mapping[str, str],
                body: bytes | None) -> UpstreamReply:
        parts = path.strip("/").split("/")[1:]  # after "v1"
        now = self.clock.now()
        if parts[0] == "files":
            return self._files(method, parts[1:], org, headers, body, int(now))
        if parts == ["batches"] and method == "POST":
            return _json(self._create_openai(org, _payload(body), now))
        if parts == ["batches"] and method == "GET":
            data = [self._openai_json(b, now) for b in self.openai.values() if b.run.org == org]
            data.reverse()  # newest first, as the API lists them
            return _json({"object": "list", "data": data, "has_more": False,
                          "first_id": data[0]["id"] if data else None,
                          "last_id": data[-1]["id"] if data else None})
        batch = self.openai.get(parts[1]) if len(parts) > 1 else None
        if batch is None or batch.run.org != org:
            raise openai_batches.not_found(parts[1] if len(parts) > 1 else "")
        if len(parts) == 2 and method == "GET":
            return _json(self._openai_json(batch, now))
        if parts[2:] == ["cancel"] and method == "POST":
            phase, _ = batch.run.phase(now)
            if phase not in ("validating", "in_progress", "finalizing"):
                raise invalid(f"Cannot cancel a batch with status '{phase}'.")
            if phase != "finalizing":
                batch.run.run_until(now)
                batch.run.cancel_requested_at = now
            return _json(self._openai_json(batch, now))
        raise ApiError(404, f"Invalid URL ({method} {path})")

    def _files(self, method: str, parts: list[str], org: str, headers: Mapping[str, str],
               body: bytes | None, now: int) -> UpstreamReply:
        if not parts and method == "POST":
            filename, purpose, content = parse_upload(headers.get("content-type", ""), body or b"")
            return _json(self.files.add(org, filename, purpose, content, now).as_json())
        if not parts and method == "GET":
            return _json(self.files.listing(org, None))
        stored = self.files.get(org, parts[0])
        if len(parts) == 1 and method == "GET":
            return _json(stored.as_json())
        if len(parts) == 1 and method == "DELETE":
            return _json(self.files.delete(org, parts[0]))
        if parts[1:] == ["content"] and method == "GET":
            return UpstreamReply(200, {"content-type": "application/octet-stream"},
                                 body=stored.content)
        raise ApiError(404, f"Invalid URL ({method} /v1/files/{'/'.join(parts)})")

    def _create_openai(self, org: str, payload: dict[str, Any], now: float) -> dict[str, Any]:
        endpoint = payload.get("endpoint")
        if endpoint not in openai_batches.ENDPOINTS:
            raise invalid(f"Invalid value for 'endpoint': {endpoint!r}; supported: "
                          f"{', '.join(openai_batches.ENDPOINTS)}.", param="endpoint")
        if payload.get("completion_window") != "24h":
            raise invalid("Invalid value for 'completion_window': only '24h' is supported.",
                          param="completion_window")
        file_id = payload.get("input_file_id")
        stored = self.files.get(org, str(file_id))
        if stored.purpose != "batch":
            raise invalid("The input file must be uploaded with purpose 'batch'.",
                          param="input_file_id")
        metadata = payload.get("metadata")
        requests, errors = openai_batches.validate_lines(stored.content, endpoint)
        runner = _ENDPOINT_RUNNERS[endpoint]
        run = BatchRun(random_id("batch_", 12), org, requests, now, replace(self.timing),
                       lambda body: _execute_openai(runner, self.state, org, body),
                       invalid=bool(errors),
                       metadata=metadata if isinstance(metadata, dict) else None)
        extra: dict[str, Any] = {"endpoint": endpoint, "input_file_id": stored.id,
                                 "errors": {"object": "list", "data": errors} if errors else None}
        batch = _OpenAIBatch(run, extra)
        self.openai[run.id] = batch
        return self._openai_json(batch, now)

    def _openai_json(self, batch: _OpenAIBatch, now: float) -> dict[str, Any]:
        run = batch.run
        run.run_until(now)
        phase, since = run.phase(now)
        if run.ended(now) and "files_written" not in batch.extra and phase != "failed":
            good, bad = openai_batches.output_lines(run, phase)
            if good:
                batch.extra["output_file_id"] = self.files.add(
                    run.org, f"{run.id}_output.jsonl", "batch_output", good, int(now)).id
            if bad:
                batch.extra["error_file_id"] = self.files.add(
                    run.org, f"{run.id}_error.jsonl", "batch_output", bad, int(now)).id
            batch.extra["files_written"] = True
        shown = {k: v for k, v in batch.extra.items() if k != "files_written"}
        return openai_batches.batch_json(run, shown, phase, since, batch.history)

    # -- Anthropic ---------------------------------------------------------------------

    def _anthropic(self, method: str, path: str, org: str, body: bytes | None,
                   host: str | None) -> UpstreamReply:
        parts = path.strip("/").split("/")[3:]  # after "v1/messages/batches"
        now = self.clock.now()
        base = f"http://{host}" if host else "https://api.anthropic.com"
        if not parts and method == "POST":
            payload = _payload(body, "anthropic")
            if body is not None and len(body) > message_batches.MAX_BYTES:
                raise ApiError(413, "Batch too large: at most 256 MB")
            run = BatchRun(random_id("msgbatch_", 12), org,
                           message_batches.parse_requests(payload), now, replace(self.timing),
                           lambda params: _execute_anthropic(self.state, org, params))
            self.anthropic[run.id] = run
            return _json(self._anthropic_json(run, now, base))
        if not parts and method == "GET":
            data = [self._anthropic_json(r, now, base) for r in self.anthropic.values()
                    if r.org == org]
            data.reverse()
            return _json({"data": data, "has_more": False,
                          "first_id": data[0]["id"] if data else None,
                          "last_id": data[-1]["id"] if data else None})
        found = self.anthropic.get(parts[0])
        if found is None or found.org != org:
            raise ApiError(404, f"Message batch {parts[0]!r} not found")
        run = found
        run.run_until(now)
        phase, _ = run.phase(now)
        ended = message_batches.status_of(phase) == "ended"
        if len(parts) == 1 and method == "GET":
            return _json(self._anthropic_json(run, now, base))
        if len(parts) == 1 and method == "DELETE":
            if not ended:
                raise invalid("Message batch must be ended before it can be deleted")
            del self.anthropic[run.id]
            return _json({"id": run.id, "type": "message_batch_deleted"})
        if parts[1:] == ["cancel"] and method == "POST":
            if not ended and run.cancel_requested_at is None:
                run.cancel_requested_at = now
            return _json(self._anthropic_json(run, now, base))
        if parts[1:] == ["results"] and method == "GET":
            if not ended:
                raise invalid(f"Message batch {run.id} has not ended; results are not yet "
                              "available")
            return UpstreamReply(200, {"content-type": "application/x-jsonl"},
                                 body=message_batches.results(run, phase))
        raise ApiError(404, "Not Found")

    def _anthropic_json(self, run: BatchRun, now: float, base: str) -> dict[str, Any]:
        run.run_until(now)
        phase, since = run.phase(now)
        return message_batches.batch_json(run, phase, since, base)

    # -- simulated clock ----------------------------------------------------------------

    def _admin(self, method: str, path: str, body: bytes | None) -> UpstreamReply:
        if method == "GET" and path == "/emulator/batches/now":
            return _json({"now": self.clock.now(), "time_scale": self.clock.time_scale})
        payload = _payload(body) if method == "POST" else {}
        try:
            if method == "POST" and path == "/emulator/batches/advance":
                self.clock.advance(float(payload.get("seconds", 0)))
            elif method == "POST" and path == "/emulator/batches/time_scale":
                self.clock.set_scale(float(payload.get("time_scale", 1)))
            else:
                raise ApiError(404, f"Invalid URL ({method} {path})")
        except (TypeError, ValueError) as exc:
            raise invalid(str(exc)) from None
        return _json({"now": self.clock.now(), "time_scale": self.clock.time_scale})


def _execute_openai(runner: Callable[[EmulatorState, str, dict[str, Any]], Any],
                    state: EmulatorState, org: str, body: dict[str, Any]
                    ) -> tuple[int, dict[str, Any]]:
    try:
        if body.get("stream") is True:
            raise invalid("Streaming is not supported in batches.", param="stream")
        outcome = runner(state, org, body)
        return 200, orjson.loads(outcome.body)
    except ApiError as error:
        return error.status, error.body("openai")
    except (TypeError, AttributeError, KeyError, ValueError) as exc:
        return 400, invalid(f"Invalid request body: {type(exc).__name__}").body("openai")


def _execute_anthropic(state: EmulatorState, org: str, params: dict[str, Any]
                       ) -> tuple[int, dict[str, Any]]:
    try:
        if params.get("stream") is True:
            raise invalid("stream: streaming is not supported in message batches")
        return 200, orjson.loads(anthropic_api.messages(state, org, params).body or b"{}")
    except ApiError as error:
        return error.status, error.body("anthropic")
    except (TypeError, AttributeError, KeyError, ValueError) as exc:
        return 400, invalid(f"Invalid request: {type(exc).__name__}").body("anthropic")


def _payload(body: bytes | None, protocol: Protocol = "openai") -> dict[str, Any]:
    try:
        payload = orjson.loads(body or b"")
    except orjson.JSONDecodeError:
        payload = None
    if not isinstance(payload, dict):
        raise invalid("expected a JSON object body")
    return payload


def _json(payload: Any, status: int = 200) -> UpstreamReply:
    return UpstreamReply(status, {"content-type": _JSON}, body=orjson.dumps(payload))

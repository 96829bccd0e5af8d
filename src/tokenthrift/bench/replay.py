"""Send a trace through a running gateway and collect what each request got.

Requests go one at a time in ``at_s`` order, so which request fills a cache and which
one hits it is the same on every run: a replay is deterministic for a trace. Before each
request the upstream's clock is set to the request's ``at_s`` (provider prompt caches
expire on trace time); ``--speed S`` additionally waits until ``at_s / S`` seconds of
wall time have passed, for watching a replay live or loading the gateway as in
production (the gateway's own cache TTLs run on wall time).

Deferrable requests are sent with ``x-tokenthrift-defer`` when the run has the batch
lever on: the gateway answers 202 with a job, and the replayer collects the jobs' answers
at the end, moving the upstream's clock on so the batches complete.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson

from ..emulator.answer_tags import find_tag
from ..ledger import open_ledger
from ..ledger.record import LedgerRecord
from .judge import REUSED, Served
from .runs import BENCH_KEY
from .trace import TraceRequest

DEFER = "24h"
ANTHROPIC_VERSION = "2023-06-01"
# Simulated seconds the clock moves per poll while deferred jobs are outstanding.
_JOB_STEP_S, _JOB_POLLS = 600.0, 600


@dataclass(slots=True)
class Sent:
    """What the client saw for one request."""

    request: TraceRequest
    status: int = 0
    request_id: str | None = None
    text: str = ""
    error: str | None = None
    job_id: str | None = None

    @property
    def tag(self) -> str | None:
        return find_tag(self.text) if self.status == 200 else None


@dataclass(slots=True)
class Answered:
    """One request of a run: what it got, its ledger row, and the judge's view of it."""

    request: TraceRequest
    sent: Sent
    row: LedgerRecord | None
    served: Served

    @property
    def cost_usd(self) -> Decimal:
        return (self.row.cost_usd or Decimal(0)) if self.row is not None else Decimal(0)

    @property
    def savings(self) -> dict[str, Decimal]:
        return dict(self.row.savings) if self.row is not None else {}


@dataclass(slots=True)
class RunResult:
    answered: list[Answered]
    levers: list[str]
    wall_s: float = 0.0
    records: dict[str, dict[str, Any]] = field(default_factory=dict)


def request_body(request: TraceRequest) -> tuple[str, dict[str, Any]]:
    """The path and JSON body of ``request`` in its wire format."""
    if request.wire == "openai":
        body: dict[str, Any] = {"model": request.model, "messages": request.messages,
                                "max_tokens": request.max_tokens}
        if request.stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return "/v1/chat/completions", body
    system = [_text(m.get("content")) for m in request.messages if m["role"] == "system"]
    body = {"model": request.model, "max_tokens": request.max_tokens,
            "messages": [m for m in request.messages if m["role"] != "system"]}
    if system:
        body["system"] = "\n\n".join(system)
    if request.stream:
        body["stream"] = True
    return "/v1/messages", body


def request_headers(request: TraceRequest, *, defer: bool) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    if request.wire == "openai":
        headers["authorization"] = f"Bearer {BENCH_KEY}"
    else:
        headers["x-api-key"] = BENCH_KEY
        headers["anthropic-version"] = ANTHROPIC_VERSION
    for name, value in request.attribution.items():
        if value is None:
            continue
        text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        headers[f"x-tokenthrift-{name}"] = text
    if defer:
        headers["x-tokenthrift-defer"] = DEFER
    return headers


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b.get("text", "") for b in content if isinstance(b, dict))
    return ""


class Replayer:
    """Sends a trace through a gateway at ``gateway_url`` whose upstream is ``upstream_url``."""

    def __init__(self, gateway_url: str, upstream_url: str, *, speed: float = 0.0,
                 defer: bool = False, on_sent: Callable[[Sent], None] | None = None) -> None:
        self.gateway = httpx.Client(base_url=gateway_url, timeout=300.0)
        self.upstream = httpx.Client(base_url=upstream_url, timeout=60.0)
        self.speed = speed
        self.defer = defer
        self.on_sent = on_sent
        self.records: dict[str, dict[str, Any]] = {}

    def close(self) -> None:
        self.gateway.close()
        self.upstream.close()

    def run(self, trace: list[TraceRequest]) -> list[Sent]:
        started = time.monotonic()
        sent: list[Sent] = []
        for request in trace:
            self.upstream.post("/bench/clock", content=orjson.dumps({"now": request.at_s}))
            if self.speed > 0:
                wait = started + request.at_s / self.speed - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            outcome = self.send(request)
            sent.append(outcome)
            if outcome.job_id is None:
                self._remember(outcome.tag)
                if self.on_sent is not None:
                    self.on_sent(outcome)
        self._collect_jobs([s for s in sent if s.job_id is not None],
                           trace[-1].at_s if trace else 0.0)
        return sent

    def send(self, request: TraceRequest) -> Sent:
        outcome = Sent(request)
        path, body = request_body(request)
        defer = self.defer and request.deferrable and not request.stream
        headers = request_headers(request, defer=defer)
        try:
            if request.stream:
                with self.gateway.stream("POST", path, content=orjson.dumps(body),
                                         headers=headers) as response:
                    self._read_stream(response, outcome)
            else:
                response = self.gateway.post(path, content=orjson.dumps(body), headers=headers)
                outcome.status = response.status_code
                outcome.request_id = response.headers.get("x-tokenthrift-request-id")
                if response.status_code == 202:
                    outcome.job_id = response.headers.get("x-tokenthrift-job-id")
                    outcome.request_id = outcome.job_id
                elif response.status_code == 200:
                    outcome.text = answer_text(response.json())
                else:
                    outcome.error = f"HTTP {response.status_code}: {response.text[:300]}"
        except (httpx.HTTPError, ValueError) as exc:
            outcome.error = f"{type(exc).__name__}: {exc}"
        return outcome

    def _read_stream(self, response: httpx.Response, outcome: Sent) -> None:
        outcome.status = response.status_code
        outcome.request_id = response.headers.get("x-tokenthrift-request-id")
        if response.status_code != 200:
            outcome.error = f"HTTP {response.status_code}: {response.read()[:300]!r}"
            return
        parts: list[str] = []
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            event = orjson.loads(line[6:])
            if "error" in event and event.get("type") in (None, "error"):
                outcome.error = "stream ended with an error event"
            for choice in event.get("choices") or ():
                parts.append((choice.get("delta") or {}).get("content") or "")
            if event.get("type") == "content_block_delta":
                parts.append((event.get("delta") or {}).get("text") or "")
        outcome.text = "".join(parts)

    def _remember(self, tag: str | None) -> None:
        if tag is None or tag in self.records:
            return
        response = self.upstream.get(f"/emulator/answers/{tag}")
        if response.status_code == 200:
            self.records[tag] = response.json()

    def _collect_jobs(self, jobs: list[Sent], end_s: float) -> None:
        """Move the upstream's clock on until every deferred job has its answer."""
        pending = list(jobs)
        now = end_s
        for _ in range(_JOB_POLLS):
            if not pending:
                return
            now += _JOB_STEP_S
            self.upstream.post("/bench/clock", content=orjson.dumps({"now": now}))
            time.sleep(0.2)
            still = []
            for outcome in pending:
                job = self.gateway.get(f"/v1/tokenthrift/jobs/{outcome.job_id}",
                                       headers=request_headers(outcome.request, defer=False))
                data = job.json() if job.status_code == 200 else {}
                if data.get("status") == "completed" and data.get("response") is not None:
                    outcome.status = 200
                    outcome.text = answer_text(data["response"])
                    self._remember(outcome.tag)
                elif data.get("status") in ("failed", "expired", "cancelled"):
                    outcome.status = 502
                    outcome.error = f"job {data.get('status')}: {data.get('error')}"
                else:
                    still.append(outcome)
                    continue
                if self.on_sent is not None:
                    self.on_sent(outcome)
            pending = still
        for outcome in pending:
            outcome.status, outcome.error = 504, "deferred job did not complete"


def answer_text(body: Any) -> str:
    """The answer text of an OpenAI chat completion or an Anthropic message."""
    if not isinstance(body, dict):
        return ""
    if "choices" in body:
        choices = body.get("choices") or [{}]
        return _text((choices[0].get("message") or {}).get("content"))
    return _text(body.get("content"))


def judge_run(sent: list[Sent], records: dict[str, dict[str, Any]], ledger_path: Path,
              levers: list[str]) -> RunResult:
    """Join what the client saw with the ledger and the upstream's records."""
    ledger = open_ledger(str(ledger_path))
    try:
        rows = {s.request_id: ledger.get(s.request_id) for s in sent if s.request_id}
    finally:
        ledger.close()
    owners: dict[str, TraceRequest] = {}
    answered = []
    for outcome in sent:
        row = rows.get(outcome.request_id) if outcome.request_id else None
        tag = outcome.tag
        record = records.get(tag or "") or {}
        cache_status = row.cache_status if row is not None else "miss"
        if tag is not None and cache_status not in REUSED:
            owners[tag] = outcome.request  # generated for this request
        acted = set(row.savings) | set(row.notes) if row is not None else set()
        served = Served(
            ok=outcome.status == 200 and tag is not None and bool(record),
            tag=tag, model=record.get("model"), prompt=record.get("prompt"),
            cache_status=cache_status, owner=owners.get(tag or ""),
            fallback=bool(row and row.fallback_used), levers=frozenset(acted))
        answered.append(Answered(outcome.request, outcome, row, served))
    return RunResult(answered, levers, records=records)

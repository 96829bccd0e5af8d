"""Run the demo: start the gateway in-process on its embedded default, replay the
built-in workload through it over real HTTP, then read what it cost back from the ledger.

The client is plain aiohttp sending wire-format JSON, exactly what the OpenAI and
Anthropic SDKs put on the wire, so the demo needs no SDK and no API key.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from ..config import DEFAULT_DATA_DIR, GatewayConfig, ModelRoute
from ..ledger import Ledger, open_ledger
from ..ledger.reports import Report, savings_report, spend_report
from .workload import DemoRequest, build_workload

if TYPE_CHECKING:
    import aiohttp

DEFAULT_REQUESTS = 300
DEFAULT_CONCURRENCY = 8
DEFAULT_SEED = 7
# Headers carry money at the ledger's precision (1e-12 USD): sums must agree exactly.
AGREEMENT_TOLERANCE = Decimal(0)
# The demo's upstream fails a few times at the start: the gateway retries, then serves
# those requests with the fallback model, which the ledger records as no lever's saving.
FLAKY_MODEL, FALLBACK_MODEL, INJECTED_FAILURES = "claude-sonnet-4-5", "gpt-4o", 3
_COST_COMMENT = ": x-tokenthrift-cost-usd="


@dataclass(slots=True)
class DemoOptions:
    requests: int = DEFAULT_REQUESTS
    concurrency: int = DEFAULT_CONCURRENCY
    data_dir: str = DEFAULT_DATA_DIR
    seed: int = DEFAULT_SEED
    fresh: bool = False

    @property
    def ledger_path(self) -> Path:
        return Path(self.data_dir) / "ledger.db"


@dataclass(slots=True)
class Outcome:
    """What the client saw for one request."""

    request: DemoRequest
    status: int = 0
    request_id: str | None = None
    # x-tokenthrift-cost-usd (response header, or the SSE trailer comment of a stream)
    cost_usd: Decimal | None = None
    served_model: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.error is None


@dataclass(slots=True)
class Agreement:
    """Costs the client was told vs. what the ledger recorded for the same request ids."""

    responses: int = 0
    told_usd: Decimal = Decimal(0)
    ledger_usd: Decimal = Decimal(0)
    missing: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing and abs(self.told_usd - self.ledger_usd) <= AGREEMENT_TOLERANCE


@dataclass(slots=True)
class DemoResult:
    """What the demo did and what the ledger says it cost (this run's rows only)."""

    options: DemoOptions
    outcomes: list[Outcome]
    wall_s: float
    by_team: Report
    by_model: Report
    by_lever: Report
    ledger_rows: int
    # Non-stream responses: the x-tokenthrift-cost-usd header vs. the ledger.
    headers: Agreement
    # Streams: the cost in the SSE trailer comment vs. the ledger.
    trailers: Agreement
    long_prompt_input_tokens: int = 0
    long_prompt_cached_tokens: int = 0
    # Requests in the whole ledger (earlier runs too, unless --fresh).
    ledger_total_requests: int = 0
    # This run's rows: the sum of their saved_usd (what the levers earned), of what no
    # lever earned (fallbacks) and of the gateway's own spend, and how many fell back.
    rows_saved_usd: Decimal = Decimal(0)
    rows_unattributed_usd: Decimal = Decimal(0)
    rows_gateway_usd: Decimal = Decimal(0)
    fallbacks: int = 0

    @property
    def savings_add_up(self) -> bool:
        return self.by_lever.total.get("saved_usd") == self.rows_saved_usd

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    @property
    def ok(self) -> bool:
        return (
            not self.failures
            and self.ledger_rows == len(self.outcomes)
            and self.headers.ok
            and self.trailers.ok
            and self.savings_add_up
        )


# --- the client --------------------------------------------------------------------------


async def replay(
    base_url: str,
    workload: list[DemoRequest],
    concurrency: int,
    on_result: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Send every request with ``concurrency`` in flight; outcomes in workload order."""
    # Imported here: every `tokenthrift` command loads this module, few of them replay.
    import aiohttp

    outcomes: list[Outcome | None] = [None] * len(workload)
    pending = iter(workload)
    timeout = aiohttp.ClientTimeout(total=120)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base_url, connector=connector, timeout=timeout) as session:

        async def worker() -> None:
            # One shared iterator: each worker takes the next request when it is free.
            for request in pending:
                outcome = await send(session, request)
                outcomes[request.index] = outcome
                if on_result is not None:
                    on_result(outcome)

        await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    return [o for o in outcomes if o is not None]


async def send(session: aiohttp.ClientSession, request: DemoRequest) -> Outcome:
    import aiohttp  # already loaded by replay(); see there

    outcome = Outcome(request)
    try:
        async with session.post(
            request.path, data=orjson.dumps(request.body), headers=request.headers
        ) as response:
            outcome.status = response.status
            outcome.request_id = response.headers.get("x-tokenthrift-request-id")
            outcome.served_model = response.headers.get("x-tokenthrift-served-model")
            if response.status != 200:
                outcome.error = f"HTTP {response.status}: {(await response.text())[:300]}"
            elif request.stream:
                await _read_stream(response, outcome)
            else:
                outcome.cost_usd = _money(response.headers.get("x-tokenthrift-cost-usd"))
                _check_body(await response.read(), outcome)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"
    return outcome


def _check_body(raw: bytes, outcome: Outcome) -> None:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        outcome.error = "response is not JSON"
        return
    expected = "choices" if outcome.request.wire == "openai" else "content"
    if not isinstance(body, dict) or expected not in body or "usage" not in body:
        outcome.error = f"response lacks {expected!r}/'usage': {raw[:200]!r}"


async def _read_stream(response: aiohttp.ClientResponse, outcome: Outcome) -> None:
    """Read an SSE stream to its end; it must finish the way its wire format says."""
    finished = False
    async for raw_line in response.content:
        line = raw_line.decode().rstrip("\r\n")
        if line.startswith(_COST_COMMENT):
            outcome.cost_usd = _money(line[len(_COST_COMMENT) :].split(" ", 1)[0])
        elif line in ("data: [DONE]", "event: message_stop"):
            finished = True
        elif line == "event: error" or line.startswith('data: {"error"'):
            outcome.error = "stream ended with an error event"
    if not finished and outcome.error is None:
        outcome.error = "stream ended without its final event"


def _money(value: str | None) -> Decimal | None:
    if not value:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        return None


# --- running it --------------------------------------------------------------------------


def clear_ledger(ledger_path: Path) -> None:
    """``--fresh``: remove the SQLite ledger and its WAL side files."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{ledger_path}{suffix}").unlink(missing_ok=True)


def demo_config(data_dir: str) -> GatewayConfig:
    """The embedded default, with a fallback for the model whose upstream will fail."""
    config = GatewayConfig.embedded_default(data_dir)
    config.models.insert(0, ModelRoute(FLAKY_MODEL, "emulator", fallbacks=[FALLBACK_MODEL]))
    # No retries: each injected failure is served by the fallback model right away.
    config.retry.max_retries = 0
    return config


def serve_and_replay(
    options: DemoOptions,
    workload: list[DemoRequest],
    on_result: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Start the gateway, replay the workload, stop it (which flushes the ledger)."""
    from ..assembly import build_gateway
    from ..server.app import create_app
    from ..server.runner import ServerThread

    gateway = build_gateway(demo_config(options.data_dir))
    server = ServerThread(create_app(gateway))
    server.start()
    from ..emulator import Fault

    emulator = gateway.emulator
    assert emulator is not None
    emulator.add_fault(Fault(kind="status", status=500, model=FLAKY_MODEL,  # type: ignore[attr-defined]
                             count=INJECTED_FAILURES))
    try:
        return asyncio.run(replay(server.url, workload, options.concurrency, on_result))
    finally:
        # The app's lifespan closes the gateway, whose writer flushes every ledger row.
        server.stop()


def run_demo(
    options: DemoOptions, on_result: Callable[[Outcome], None] | None = None
) -> DemoResult:
    """Replay the workload through a fresh in-process gateway and read the ledger back."""
    if options.fresh:
        clear_ledger(options.ledger_path)
    workload = build_workload(options.requests, options.seed)
    since = time.time()
    started = time.perf_counter()
    outcomes = serve_and_replay(options, workload, on_result)
    wall_s = time.perf_counter() - started
    ledger = open_ledger(str(options.ledger_path))
    try:
        return _read_back(ledger, options, outcomes, wall_s, since)
    finally:
        ledger.close()


def _read_back(
    ledger: Ledger, options: DemoOptions, outcomes: list[Outcome], wall_s: float, since: float
) -> DemoResult:
    recorded = {o.request_id: ledger.get(o.request_id) for o in outcomes if o.request_id}
    rows = [r for r in recorded.values() if r is not None]
    costs = {rid: r.cost_usd for rid, r in recorded.items() if r is not None}
    long_rows = [
        recorded.get(o.request_id) for o in outcomes if o.request.long_prompt and o.request_id
    ]
    return DemoResult(
        options=options,
        outcomes=outcomes,
        wall_s=wall_s,
        by_team=spend_report(ledger, ["team"], since),
        by_model=spend_report(ledger, ["model"], since),
        by_lever=savings_report(ledger, "lever", since),
        ledger_rows=sum(1 for r in recorded.values() if r is not None),
        headers=agreement([o for o in outcomes if not o.request.stream], costs),
        trailers=agreement([o for o in outcomes if o.request.stream], costs),
        long_prompt_input_tokens=sum(
            r.input_tokens + r.cache_read_tokens + r.cache_write_tokens
            for r in long_rows
            if r is not None
        ),
        long_prompt_cached_tokens=sum(r.cache_read_tokens for r in long_rows if r is not None),
        ledger_total_requests=spend_report(ledger, []).total["requests"],
        rows_saved_usd=sum((r.saved_usd or Decimal(0) for r in rows), Decimal(0)),
        rows_unattributed_usd=sum((r.unattributed_usd or Decimal(0) for r in rows), Decimal(0)),
        rows_gateway_usd=sum((r.gateway_cost_usd for r in rows), Decimal(0)),
        fallbacks=sum(1 for r in rows if r.fallback_used),
    )


def agreement(outcomes: list[Outcome], ledger_costs: dict[str, Decimal | None]) -> Agreement:
    """Sum the costs the client was told and the ledger's costs for the same request ids."""
    result = Agreement()
    for outcome in outcomes:
        if not outcome.ok or outcome.request_id is None:
            continue
        result.responses += 1
        result.told_usd += outcome.cost_usd or Decimal(0)
        if outcome.request_id not in ledger_costs:
            result.missing.append(outcome.request_id)
            continue
        recorded = ledger_costs[outcome.request_id]
        if recorded is not None:
            result.ledger_usd += recorded
    return result

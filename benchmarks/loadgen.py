"""Open-loop, fixed-rate load generator for OpenAI-style chat completions.

Requests are sent on a fixed schedule (request ``i`` at ``start + i / rate``) whatever the
server does, and each latency is measured from the request's *scheduled* time, not from
when it was actually written. A slow server therefore shows up as latency and lost
throughput instead of quietly slowing the client down (coordinated omission).

Connections are keep-alive HTTP/1.1, one request in flight per connection, taken from a
pool that grows as needed up to ``--max-connections``; past that, due requests wait in a
backlog (and that wait counts as latency). The client is a raw asyncio ``Protocol`` with
httptools on uvloop, to keep its own CPU per request small. Only loopback targets are
accepted, and a run is bounded: ``warmup + duration`` seconds of sending, then at most
``--timeout`` seconds of draining.

Each request body carries a unique number, so an exact-match cache in a gateway cannot
answer it without the upstream.

Run: ``python benchmarks/loadgen.py --url http://127.0.0.1:8080/v1/chat/completions
--rate 200 --duration 10 --warmup 3`` (``--json`` for machine-readable output,
``--watch NAME=PID`` to also report CPU ms/request and RSS of other processes).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import cast
from urllib.parse import urlsplit

import httptools
import uvloop

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import procstat
from loadstats import (
    InFlight,
    LoadResult,
    Recorder,
    ResourceSnapshot,
    Window,
    print_human,
    summarise,
)

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
MAX_RATE = 20_000.0
MAX_SECONDS = 600.0
TIMEOUT_CHECK_INTERVAL = 0.1
RSS_SAMPLE_INTERVAL = 0.5


@dataclass(frozen=True)
class LoadSpec:
    host: str
    port: int
    path: str
    rate: float
    duration: float
    warmup: float
    timeout: float = 10.0
    max_connections: int = 512
    model: str = "gpt-4o-mini"
    api_key: str = "sk-bench"


class RequestBuilder:
    """Pre-rendered HTTP request bytes; only the fixed-width sequence number changes."""

    SEQ_WIDTH = 10

    def __init__(self, spec: LoadSpec) -> None:
        marker = "@" * self.SEQ_WIDTH
        body = json.dumps(
            {
                "model": spec.model,
                "messages": [
                    {"role": "system", "content": "You are a concise assistant."},
                    {
                        "role": "user",
                        "content": f"Request {marker}: what is the capital of France?",
                    },
                ],
                "max_tokens": 64,
            },
            separators=(",", ":"),
        ).encode()
        headers = (
            f"POST {spec.path} HTTP/1.1\r\n"
            f"Host: {spec.host}:{spec.port}\r\n"
            "Content-Type: application/json\r\n"
            "Accept: application/json\r\n"
            f"Authorization: Bearer {spec.api_key}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.head, self.tail = (headers + body).split(marker.encode())

    def build(self, seq: int) -> bytes:
        return self.head + b"%010d" % seq + self.tail


class Connection(asyncio.Protocol):
    """A keep-alive client connection carrying one request at a time."""

    def __init__(self, run: LoadRun) -> None:
        self.run = run
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.current: InFlight | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def send(self, request: InFlight, payload: bytes) -> None:
        self.current = request
        assert self.transport is not None
        self.transport.write(payload)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.run.connection_failed(self, "bad_response")

    def on_message_complete(self) -> None:
        request, self.current = self.current, None
        if request is not None:
            status = self.parser.get_status_code()
            self.run.completed(self, request, status, self.parser.should_keep_alive())

    def connection_lost(self, exc: Exception | None) -> None:
        self.run.connection_failed(self, "connection_lost")

    def abort(self) -> None:
        self.current = None
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class Plan:
    """The fixed schedule: request ``seq`` is due at ``start + seq / rate``."""

    def __init__(self, spec: LoadSpec) -> None:
        self.rate = spec.rate
        self.start = time.perf_counter() + 0.05
        self.total = int(spec.rate * (spec.warmup + spec.duration))
        self.first_measured = int(spec.rate * spec.warmup)
        self.next_seq = 0
        self.window_opened = asyncio.Event()
        self.all_sent = asyncio.Event()

    def due(self, seq: int) -> float:
        return self.start + seq / self.rate


class Metronome(threading.Thread):
    """Wakes the event loop when each request is due.

    uvloop's timers have 1 ms resolution, which would make requests go out up to 1 ms
    late (and that lag counts as latency). ``time.sleep`` in a thread is accurate to tens
    of microseconds, and ``call_soon_threadsafe`` wakes the loop at once.
    """

    def __init__(
        self, plan: Plan, loop: asyncio.AbstractEventLoop, on_due: Callable[[], None]
    ) -> None:
        super().__init__(name="metronome", daemon=True)
        self.plan, self.loop, self.on_due = plan, loop, on_due

    def run(self) -> None:
        plan = self.plan
        for seq in range(plan.total):
            delay = plan.due(seq) - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            self.loop.call_soon_threadsafe(self.on_due)


class LoadRun:
    """Schedules requests, keeps the connection pool, and records outcomes."""

    def __init__(self, spec: LoadSpec, watch: dict[str, int]) -> None:
        self.spec = spec
        self.watch = watch
        self.builder = RequestBuilder(spec)
        self.recorder = Recorder()
        self.idle: list[Connection] = []
        self.busy: set[Connection] = set()
        self.connecting = 0
        self.connections_opened = 0
        self.backlog: collections.deque[InFlight] = collections.deque()
        self.rss_peak: dict[str, int] = dict.fromkeys(watch, 0)
        self.loop = asyncio.get_running_loop()
        self.plan = Plan(spec)

    # -- pool ------------------------------------------------------------------------------

    def dispatch(self, request: InFlight) -> None:
        if self.idle:
            self._send(self.idle.pop(), request)
        elif self._pool_size() < self.spec.max_connections:
            self.connecting += 1
            self.loop.create_task(self._open(request))
        else:
            self.backlog.append(request)

    async def _open(self, request: InFlight) -> None:
        try:
            _, conn = await self.loop.create_connection(
                lambda: Connection(self), self.spec.host, self.spec.port
            )
        except OSError:
            self.connecting -= 1
            self.recorder.failure(request, "connect_failed")
            return
        self.connecting -= 1
        self.connections_opened += 1
        self._send(conn, request)

    def _send(self, conn: Connection, request: InFlight) -> None:
        if request.measured:
            self.recorder.send_lags.append(time.perf_counter() - request.scheduled)
        self.busy.add(conn)
        conn.send(request, self.builder.build(request.seq))

    def _release(self, conn: Connection) -> None:
        self.busy.discard(conn)
        if self.backlog:
            self._send(conn, self.backlog.popleft())
        else:
            self.idle.append(conn)

    def completed(self, conn: Connection, request: InFlight, status: int, keep: bool) -> None:
        if status == 200:
            self.recorder.success(request, time.perf_counter())
        else:
            self.recorder.failure(request, f"http_{status}")
        if keep:
            self._release(conn)
        else:
            conn.abort()
            self._forget(conn)

    def connection_failed(self, conn: Connection, kind: str) -> None:
        if conn.closed:  # we closed it ourselves and already accounted for it
            return
        if conn.current is not None:
            self.recorder.failure(conn.current, kind)
        conn.abort()
        self._forget(conn)

    def _forget(self, conn: Connection) -> None:
        self.busy.discard(conn)
        if conn in self.idle:
            self.idle.remove(conn)
        if self.backlog and self._pool_size() < self.spec.max_connections:
            self.dispatch(self.backlog.popleft())

    def _pool_size(self) -> int:
        return len(self.busy) + len(self.idle) + self.connecting

    @property
    def outstanding(self) -> int:
        return len(self.busy) + self.connecting + len(self.backlog)

    # -- timers ----------------------------------------------------------------------------

    def expire(self) -> None:
        """Count requests older than the timeout (from their scheduled time) as errors."""
        deadline = time.perf_counter() - self.spec.timeout
        while self.backlog and self.backlog[0].scheduled < deadline:
            self.recorder.failure(self.backlog.popleft(), "timeout")
        for conn in [c for c in self.busy if c.current and c.current.scheduled < deadline]:
            assert conn.current is not None
            self.recorder.failure(conn.current, "timeout")
            conn.abort()
            self._forget(conn)

    async def _tick(self, stop: asyncio.Event) -> None:
        # The process trees are listed once: scanning /proc on every sample costs ~1 ms.
        trees = {name: procstat.process_tree(pid) for name, pid in self.watch.items()}
        next_rss = 0.0
        while not stop.is_set():
            self.expire()
            now = time.perf_counter()
            if now >= next_rss:
                for name, pids in trees.items():
                    self.rss_peak[name] = max(self.rss_peak[name], procstat.rss_kb(pids))
                next_rss = now + RSS_SAMPLE_INTERVAL
            await asyncio.sleep(TIMEOUT_CHECK_INTERVAL)

    # -- schedule --------------------------------------------------------------------------

    def dispatch_due(self) -> None:
        """Send every request whose scheduled time has come (called by the metronome)."""
        plan, now = self.plan, time.perf_counter()
        while plan.next_seq < plan.total and plan.due(plan.next_seq) <= now:
            seq = plan.next_seq
            measured = seq >= plan.first_measured
            if seq == plan.first_measured:
                plan.window_opened.set()
            self.recorder.requests += measured
            self.dispatch(InFlight(seq, plan.due(seq), measured))
            plan.next_seq += 1
        if plan.next_seq >= plan.total:
            plan.all_sent.set()

    async def _drain(self) -> None:
        deadline = time.perf_counter() + self.spec.timeout + 1.0
        while self.outstanding and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)

    async def run(self) -> LoadResult:
        stop = asyncio.Event()
        ticker = self.loop.create_task(self._tick(stop))
        metronome = Metronome(self.plan, self.loop, self.dispatch_due)
        metronome.start()
        await self.plan.window_opened.wait()
        before = ResourceSnapshot.take(self.watch)
        window_start = time.perf_counter()
        await self.plan.all_sent.wait()
        await self._drain()
        after = ResourceSnapshot.take(self.watch)
        stop.set()
        await ticker
        for conn in [*self.idle, *self.busy]:
            conn.abort()
        window = Window(
            rate=self.spec.rate,
            duration=self.spec.duration,
            started=window_start,
            scheduled_total=self.plan.total,
            connections_opened=self.connections_opened,
            watch=self.watch,
            rss_peak_kb=self.rss_peak,
        )
        return summarise(window, self.recorder, before, after)


async def run_load(spec: LoadSpec, watch: dict[str, int] | None = None) -> LoadResult:
    return await LoadRun(spec, watch or {}).run()


def spec_from_args(args: argparse.Namespace) -> LoadSpec:
    url = urlsplit(args.url)
    if url.scheme != "http" or url.hostname not in LOOPBACK_HOSTS or url.port is None:
        raise SystemExit("--url must be http://127.0.0.1:PORT/... (loopback only)")
    if not (0 < args.rate <= MAX_RATE) or not (
        args.duration > 0 and args.warmup >= 0 and args.duration + args.warmup <= MAX_SECONDS
    ):
        raise SystemExit(f"rate must be in (0, {MAX_RATE}] and the run at most {MAX_SECONDS}s")
    return LoadSpec(
        host=url.hostname,
        port=url.port,
        path=url.path or "/",
        rate=args.rate,
        duration=args.duration,
        warmup=args.warmup,
        timeout=args.timeout,
        max_connections=args.max_connections,
        model=args.model,
        api_key=args.api_key,
    )


def parse_watch(items: list[str]) -> dict[str, int]:
    watch = {}
    for item in items:
        name, _, pid = item.partition("=")
        if not pid.isdigit():
            raise SystemExit(f"--watch takes NAME=PID, got {item!r}")
        watch[name] = int(pid)
    return watch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="http://127.0.0.1:PORT/v1/chat/completions")
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds first")
    parser.add_argument("--timeout", type=float, default=10.0, help="per request, seconds")
    parser.add_argument("--max-connections", type=int, default=512)
    parser.add_argument("--model", default="gpt-4o-mini")
    parser.add_argument("--api-key", default="sk-bench", help="sent as a Bearer token")
    parser.add_argument("--watch", action="append", default=[], metavar="NAME=PID")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    result = uvloop.run(run_load(spec_from_args(args), parse_watch(args.watch)))
    if args.json:
        print(json.dumps(asdict(result)))
    else:
        print_human(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

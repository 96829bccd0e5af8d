"""The gateway's batch work in the background: deferred requests grouped into batches, and
every tracked batch settled into the ledger once it ends.

Settling a result is the pipeline's settlement without the pipeline: an ``Exchange`` with
the result's usage and ``batch = True`` goes through ``Accountant.settle`` with every
lever (the batch lever's ``unwind`` prices it synchronously: the saving), then to the
ledger writer. Ledger row ids are the job id (deferred) or derived from batch id and
custom_id (passthrough), so a batch settled twice — a restart, two replicas — writes each
row once (the ledger is idempotent on request ids).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import defaultdict
from dataclasses import asdict
from typing import Any

import aiohttp
import orjson

from ..errors import GatewayError
from ..exchange import Exchange
from ..levers.batch import BatchLever, Job, TrackedBatch
from ..levers.batch.usage import usage_from
from ..pipeline import Gateway
from ..providers.wire_provider import WireProvider
from ..types import Attribution
from ..wire import anthropic_messages, openai_chat
from .batch_upstream import UpstreamBatches

log = logging.getLogger("tokenthrift.batch")
OPENAI_ENDPOINT = "/v1/chat/completions"
_OPENAI_ENDED = ("completed", "failed", "expired", "cancelled")
WIRE = {"openai": openai_chat, "anthropic": anthropic_messages}


class BatchWorker:
    def __init__(self, gateway: Gateway, lever: BatchLever) -> None:
        self.gateway = gateway
        self.lever = lever
        self.store = lever.store
        self._task: asyncio.Task[None] | None = None

    def upstream(self, protocol: str, provider: str | None = None) -> UpstreamBatches:
        config = self.gateway.config
        settings = self.lever.settings
        name = provider or (settings.anthropic_provider if protocol == "anthropic"
                            else settings.openai_provider) or _default_provider(config, protocol)
        return UpstreamBatches.of(config, self.gateway.providers, name, protocol)

    # -- the loop ----------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop())

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # keep working; the next tick retries
                log.exception("batch worker tick failed")
            await asyncio.sleep(self.lever.settings.poll_interval_s)

    async def tick(self, now: float | None = None) -> None:
        """Submit the deferred groups that are due, settle the batches that ended."""
        if not self.store.exists():
            return  # nothing was ever batched through this gateway
        await self.submit_due(time.time() if now is None else now)
        for tracked in self.store.unsettled():
            await self.settle(tracked)

    # -- deferred requests -------------------------------------------------------------

    async def submit_due(self, now: float) -> None:
        groups: dict[tuple[str, str, str], list[Job]] = defaultdict(list)
        for job in self.store.jobs("queued"):
            groups[(job.provider, job.protocol, job.model)].append(job)
        settings = self.lever.settings
        for (provider, protocol, _model), jobs in groups.items():
            oldest = min(j.created_at for j in jobs)
            if len(jobs) < settings.defer_max_requests and now - oldest < settings.defer_max_wait_s:
                continue
            for start in range(0, len(jobs), settings.defer_max_requests):
                await self._submit(provider, protocol, jobs[start:start + settings.defer_max_requests])

    async def _submit(self, provider: str, protocol: str, jobs: list[Job]) -> None:
        upstream = self.upstream(protocol, provider)
        group = hashlib.sha256(",".join(j.id for j in jobs).encode()).hexdigest()[:24]
        created: dict[str, Any] | None
        if protocol == "anthropic":
            created = await upstream.json("POST", "/v1/messages/batches", {"requests": [
                {"custom_id": j.id, "params": j.upstream_body} for j in jobs]})
        else:
            created = await self._adopt(upstream, group)
            if created is None:
                lines = b"".join(orjson.dumps({"custom_id": j.id, "method": "POST",
                                               "url": OPENAI_ENDPOINT, "body": j.upstream_body})
                                 + b"\n" for j in jobs)
                file_id = await upstream.upload(f"deferred-{group}.jsonl", lines)
                created = await upstream.json("POST", "/v1/batches", {
                    "input_file_id": file_id, "endpoint": OPENAI_ENDPOINT,
                    "completion_window": "24h", "metadata": {"tokenthrift_group": group}})
        assert created is not None
        batch_id = str(created["id"])
        self.store.track(TrackedBatch(batch_id, provider, protocol, {}, deferred=True))
        self.store.mark_submitted([j.id for j in jobs], batch_id)

    async def _adopt(self, upstream: UpstreamBatches, group: str) -> dict[str, Any] | None:
        """The batch a crash left unrecorded for this group (OpenAI metadata), if any."""
        listing = await upstream.json("GET", "/v1/batches?limit=100")
        return next((b for b in listing.get("data", [])
                     if (b.get("metadata") or {}).get("tokenthrift_group") == group), None)

    # -- settlement --------------------------------------------------------------------

    async def settle(self, tracked: TrackedBatch) -> bool:
        """Ledger rows (and finished jobs) for an ended batch; False while it runs."""
        upstream = self.upstream(tracked.protocol, tracked.provider)
        results = await self._results(upstream, tracked)
        if results is None:
            return False
        jobs = {j.id: j for j in self.store.jobs("submitted", tracked.id)} if tracked.deferred \
            else {}
        for custom_id, body, error in results:
            job = jobs.pop(custom_id, None)
            if body is not None:
                self._record(tracked, custom_id, body, job)
            if job is not None:
                await self._finish(job, body, error)
        for job in jobs.values():  # never reached upstream (a failed batch)
            await self._finish(job, None, {"code": "batch_failed",
                                           "message": "the batch holding this request failed"})
        self.store.mark_settled(tracked.id)
        return True

    async def _results(self, upstream: UpstreamBatches, tracked: TrackedBatch
                       ) -> list[tuple[str, dict[str, Any] | None, Any]] | None:
        out: list[tuple[str, dict[str, Any] | None, Any]] = []
        if tracked.protocol == "anthropic":
            batch = await upstream.json("GET", f"/v1/messages/batches/{tracked.id}")
            if batch.get("processing_status") != "ended":
                return None
            raw = await upstream.content(f"/v1/messages/batches/{tracked.id}/results")
            for line in raw.splitlines():
                if line.strip():
                    item = orjson.loads(line)
                    result = item.get("result") or {}
                    ok = result.get("type") == "succeeded"
                    out.append((item["custom_id"], result.get("message") if ok else None,
                                None if ok else result.get("error") or {"type": result.get("type")}))
            return out
        batch = await upstream.json("GET", f"/v1/batches/{tracked.id}")
        if batch.get("status") not in _OPENAI_ENDED:
            return None
        for key in ("output_file_id", "error_file_id"):
            if batch.get(key):
                raw = await upstream.content(f"/v1/files/{batch[key]}/content")
                for line in raw.splitlines():
                    if line.strip():
                        item = orjson.loads(line)
                        response = item.get("response") or {}
                        ok = response.get("status_code") == 200
                        out.append((item["custom_id"], response.get("body") if ok else None,
                                    None if ok else item.get("error") or response.get("body")))
        return out

    def _record(self, tracked: TrackedBatch, custom_id: str, body: dict[str, Any],
                job: Job | None) -> None:
        gateway = self.gateway
        protocol = tracked.protocol
        model = str(body.get("model") or (job.model if job else ""))
        attribution = Attribution(**(job.attribution if job else tracked.attribution))
        request_id = job.id if job else "batchreq_" + hashlib.sha256(
            f"{tracked.id}\0{custom_id}".encode()).hexdigest()[:24]
        exchange = Exchange(request=None, attribution=attribution,
                            requested_model=job.requested_model if job else model,
                            wire_format=job.wire_format if job else protocol,  # type: ignore[arg-type]
                            endpoint="deferred" if job else "batch", request_id=request_id,
                            ts=job.created_at if job else time.time())
        exchange.serve_with(model, tracked.provider, protocol, fallback=False)  # type: ignore[arg-type]
        exchange.usage = usage_from(protocol, body.get("usage") or {})
        exchange.batch = True
        exchange.ledger_notes["batch"] = {"batch_id": tracked.id, "custom_id": custom_id}
        exchange.finish()
        settlement = gateway.accountant.settle(exchange, gateway.levers)
        gateway.writer.submit(gateway.accountant.record(exchange, settlement))

    async def _finish(self, job: Job, body: dict[str, Any] | None, error: Any) -> None:
        response = None
        if body is not None:
            try:
                response = self._render(job, body)
            except GatewayError as exc:
                error = {"code": "unreadable_response", "message": exc.message}
        self.store.finish_job(job.id, response=response,
                              error=None if response is not None else (error or {}))
        if job.callback_url:
            finished = self.store.job(job.id)
            if finished is not None:
                await _callback(job.callback_url, finished.as_json())

    def _render(self, job: Job, body: dict[str, Any]) -> dict[str, Any]:
        """The upstream answer in the client's wire format, as a synchronous call renders it."""
        provider = self.gateway.providers.get(job.provider, job.model)
        assert isinstance(provider, WireProvider)
        wire = WIRE[job.wire_format]
        chat = wire.parse_request(job.client_body)
        rendered: dict[str, Any] = wire.render_response(provider.parse_response(body), chat)
        return rendered


async def _callback(url: str, payload: dict[str, Any]) -> None:
    try:
        async with aiohttp.ClientSession() as session, session.post(
                url, data=orjson.dumps(payload), headers={"content-type": "application/json"},
                timeout=aiohttp.ClientTimeout(total=10)) as reply:
            await reply.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("job %s: callback failed (%s)", payload.get("id"), type(exc).__name__)


def _default_provider(config: Any, protocol: str) -> str:
    for name, settings in config.providers.items():
        if settings.type == protocol:
            return str(name)
    for name, settings in config.providers.items():
        if settings.type == "emulator":
            return str(name)
    raise GatewayError("invalid_request", f"no provider serves the {protocol} Batch API")


def attribution_json(attribution: Attribution) -> dict[str, Any]:
    return asdict(attribution)

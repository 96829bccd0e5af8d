"""``batch run``: submit every chunk once, poll until each batch ends, download, and write
the results in input order with the cost against synchronous pricing.

Resume: everything durable is in the state file (``state``), and each downloaded chunk's
results in a file next to it, so a run killed at any point continues where it stopped
without sending a request twice and without losing one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..accounting.catalog import PriceCatalog
from ..accounting.cost import CostCalculator
from ..levers.batch.usage import usage_from
from .api import BatchAPI
from .chunks import split
from .requests import BatchRequest, read_requests
from .state import ChunkState, RunState

OPENAI_ENDPOINT = "/v1/chat/completions"
_OPENAI_ENDED = ("completed", "failed", "expired", "cancelled")
# (done, total) across the run, after every poll.
Progress = Callable[[int, int], None]


@dataclass(slots=True)
class Summary:
    requests: int = 0
    succeeded: int = 0
    failed: int = 0
    batches: int = 0
    batch_cost_usd: Decimal = Decimal(0)
    sync_cost_usd: Decimal = Decimal(0)
    unpriced: int = 0

    def as_json(self) -> dict[str, Any]:
        saved = self.sync_cost_usd - self.batch_cost_usd
        return {"requests": self.requests, "succeeded": self.succeeded, "failed": self.failed,
                "batches": self.batches, "batch_cost_usd": float(self.batch_cost_usd),
                "sync_cost_usd": float(self.sync_cost_usd), "saved_usd": float(saved),
                "unpriced": self.unpriced}


class BatchRunner:
    def __init__(self, api: BatchAPI, *, poll_interval: float = 5.0,
                 sleep: Callable[[float], None] = time.sleep, progress: Progress | None = None,
                 catalog: PriceCatalog | None = None) -> None:
        self.api = api
        self.poll_interval = poll_interval
        self.sleep = sleep
        self.progress = progress
        self.calculator = CostCalculator(catalog or PriceCatalog())

    def run(self, input_path: Path, out_path: Path, state_path: Path, *,
            model: str | None = None, max_requests: int | None = None) -> Summary:
        requests = read_requests(input_path, model)
        state = RunState.open(state_path, input_path, split(requests, max_requests=max_requests))
        state.results_dir.mkdir(parents=True, exist_ok=True)
        for chunk in state.chunks:
            if chunk.status in ("pending", "submitting"):
                self._submit(state, chunk, requests)
        while not all(c.status == "downloaded" for c in state.chunks):
            done = sum(self._poll(state, chunk) for chunk in state.chunks)
            if self.progress is not None:
                self.progress(done, len(requests))
            if not all(c.status == "downloaded" for c in state.chunks):
                self.sleep(self.poll_interval)
        return self._write(state, requests, out_path)

    # -- submit ------------------------------------------------------------------------

    def _submit(self, state: RunState, chunk: ChunkState, requests: list[BatchRequest]) -> None:
        if chunk.status == "submitting" and self._adopt(state, chunk):
            return
        chunk.status, chunk.submitting_at = "submitting", time.time()
        state.save()  # before anything is sent: a kill from here on is found by _adopt
        members = [requests[i] for i in chunk.lines]
        if chunk.protocol == "anthropic":
            created = self.api.create_message_batch(
                [{"custom_id": r.custom_id, "params": r.body} for r in members])
        else:
            lines = [json.dumps({"custom_id": r.custom_id, "method": "POST",
                                 "url": OPENAI_ENDPOINT, "body": r.body}) for r in members]
            chunk.file_id = self.api.upload(f"{state.run_id}-{chunk.index}.jsonl",
                                            ("\n".join(lines) + "\n").encode())
            state.save()
            created = self.api.create_batch(chunk.file_id, OPENAI_ENDPOINT,
                                            _metadata(state, chunk))
        chunk.batch_id, chunk.status = str(created["id"]), "submitted"
        state.save()

    def _adopt(self, state: RunState, chunk: ChunkState) -> bool:
        """Find the batch a killed run created for ``chunk`` but did not record."""
        if chunk.protocol == "openai":
            wanted = _metadata(state, chunk)
            found = [b for b in self.api.batches() if (b.get("metadata") or {}) == wanted]
        else:  # Message Batches carry no metadata: match by creation time and size
            since = (chunk.submitting_at or 0) - 5
            found = [b for b in self.api.message_batches()
                     if _epoch(b.get("created_at")) >= since
                     and sum((b.get("request_counts") or {}).values()) == len(chunk.lines)]
        if len(found) != 1:
            return False
        chunk.batch_id, chunk.status = str(found[0]["id"]), "submitted"
        state.save()
        return True

    # -- poll and download -------------------------------------------------------------

    def _poll(self, state: RunState, chunk: ChunkState) -> int:
        """Requests of ``chunk`` that are done; downloads its results once it has ended."""
        if chunk.status == "downloaded":
            return len(chunk.lines)
        assert chunk.batch_id is not None
        if chunk.protocol == "anthropic":
            batch = self.api.message_batch(chunk.batch_id)
            counts = batch.get("request_counts") or {}
            if batch.get("processing_status") != "ended":
                return len(chunk.lines) - int(counts.get("processing", 0))
            lines = _anthropic_results(self.api.message_batch_results(chunk.batch_id))
        else:
            batch = self.api.batch(chunk.batch_id)
            counts = batch.get("request_counts") or {}
            if batch.get("status") not in _OPENAI_ENDED:
                return int(counts.get("completed", 0)) + int(counts.get("failed", 0))
            lines = self._openai_results(batch)
        path = state.results_file(chunk)
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(line) + "\n" for line in lines))
        tmp.replace(path)
        chunk.status = "downloaded"
        state.save()
        return len(chunk.lines)

    def _openai_results(self, batch: dict[str, Any]) -> list[dict[str, Any]]:
        lines: list[dict[str, Any]] = []
        for key in ("output_file_id", "error_file_id"):
            if batch.get(key):
                for raw in self.api.file_content(str(batch[key])).splitlines():
                    if raw.strip():
                        item = json.loads(raw)
                        response = item.get("response") or {}
                        status = response.get("status_code")
                        ok = status == 200
                        lines.append({"custom_id": item["custom_id"], "status_code": status,
                                      "response": response.get("body") if ok else None,
                                      "error": None if ok else (item.get("error")
                                                                or response.get("body"))})
        if batch.get("status") == "failed":
            lines.append({"custom_id": None, "batch_errors": batch.get("errors")})
        return lines

    # -- results in input order --------------------------------------------------------

    def _write(self, state: RunState, requests: list[BatchRequest], out_path: Path) -> Summary:
        by_id: dict[str, dict[str, Any]] = {}
        failed_batches: dict[int, Any] = {}
        for chunk in state.chunks:
            for raw in state.results_file(chunk).read_text().splitlines():
                item = json.loads(raw)
                if item.get("custom_id") is None:
                    failed_batches[chunk.index] = item.get("batch_errors")
                else:
                    by_id[item["custom_id"]] = item
        summary = Summary(requests=len(requests), batches=len(state.chunks))
        chunk_of = {line: c.index for c in state.chunks for line in c.lines}
        tmp = out_path.with_name(out_path.name + ".tmp")
        with tmp.open("w") as out:
            for request in requests:
                item = by_id.get(request.custom_id) or {
                    "custom_id": request.custom_id, "status_code": None, "response": None,
                    "error": {"code": "batch_failed" if chunk_of[request.line] in failed_batches
                              else "missing_result",
                              "detail": failed_batches.get(chunk_of[request.line])}}
                if item.get("response") is not None:
                    summary.succeeded += 1
                    self._price(request, item["response"], summary)
                else:
                    summary.failed += 1
                out.write(json.dumps(item) + "\n")
        tmp.replace(out_path)
        return summary

    def _price(self, request: BatchRequest, body: dict[str, Any], summary: Summary) -> None:
        usage = usage_from(request.protocol, body.get("usage") or {})
        hint = request.protocol
        batch = self.calculator.cost(request.model, usage, provider=hint, batch=True)
        sync = self.calculator.cost(request.model, usage, provider=hint)
        if batch is None or sync is None:
            summary.unpriced += 1
            return
        summary.batch_cost_usd += batch
        summary.sync_cost_usd += sync


def _metadata(state: RunState, chunk: ChunkState) -> dict[str, str]:
    return {"tokenthrift_run": state.run_id, "tokenthrift_chunk": str(chunk.index)}


def _anthropic_results(content: bytes) -> list[dict[str, Any]]:
    lines = []
    for raw in content.splitlines():
        if not raw.strip():
            continue
        item = json.loads(raw)
        result = item.get("result") or {}
        ok = result.get("type") == "succeeded"
        lines.append({"custom_id": item["custom_id"], "status_code": 200 if ok else None,
                      "response": result.get("message") if ok else None,
                      "error": None if ok else (result.get("error") or
                                                {"type": result.get("type")})})
    return lines


def _epoch(value: Any) -> float:
    from datetime import datetime

    if isinstance(value, int | float):
        return float(value)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0

"""The batch lever: Batch API traffic priced at batch rates (saving under ``batch``),
deferred requests (``x-tokenthrift-defer``) grouped into batches, and the store that keeps
both across restarts. The HTTP side — passthrough routes, the jobs endpoint, submitting
and settling batches — is ``server/batches.py``. See ``docs/batch.md``.
"""

from __future__ import annotations

from pathlib import Path

from ..base import Lever
from ..context import LeverContext
from .lever import BatchLever
from .settings import BatchSettings, parse
from .store import ANONYMOUS, BatchStore, Job, TrackedBatch


def build(context: LeverContext) -> Lever | None:
    settings = parse(context.config)
    if not settings.enabled:
        return None
    path = settings.store or str(Path(context.config.data_dir) / "batches.db")
    return BatchLever(settings, BatchStore(path))


__all__ = ["ANONYMOUS", "BatchLever", "BatchSettings", "BatchStore", "Job", "TrackedBatch", "build"]

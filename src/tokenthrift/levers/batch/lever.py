"""The batch lever: traffic through the providers' Batch APIs is billed at batch prices,
and the difference to synchronous prices is its saving.

Batch results do not pass the request pipeline: the server settles each result when its
batch ends (``server/batches.py``) through the same ``Accountant.settle`` with
``exchange.batch = True``, and ``unwind`` walks that back to the synchronous price, so the
saving lands under ``batch`` by the same telescoping rule as every other lever.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ..base import Billable, Lever, Unwound
from .settings import BatchSettings
from .store import BatchStore

if TYPE_CHECKING:
    from ...exchange import Exchange


class BatchLever(Lever):
    name = "batch"

    def __init__(self, settings: BatchSettings, store: BatchStore) -> None:
        self.settings = settings
        self.store = store

    def unwind(self, exchange: Exchange, after: Billable) -> Unwound | None:
        if not after.batch:
            return None
        return Unwound("batch", replace(after, batch=False), "Batch API price")

    async def aclose(self) -> None:
        self.store.close()

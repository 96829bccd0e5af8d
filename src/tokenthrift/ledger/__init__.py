"""The spend ledger: one row per request, what it cost, what it would have cost, who.

``open_ledger`` picks the backend (SQLite file, the embedded default, or PostgreSQL
shared by replicas); ``LedgerWriter`` keeps writes off the request path; ``reports``
turns the rows into spend and savings tables.
"""

from tokenthrift.ledger.base import (
    SAVINGS_DIMENSIONS,
    SPEND_DIMENSIONS,
    Ledger,
    LedgerError,
    LedgerSink,
    LedgerUnavailable,
    RecordRejected,
)
from tokenthrift.ledger.location import DEFAULT_LEDGER_PATH, default_ledger_location, open_ledger
from tokenthrift.ledger.prompts import PromptStorage, prompt_fingerprint
from tokenthrift.ledger.record import LEVERS, LedgerRecord, Lever
from tokenthrift.ledger.writer import LedgerWriter

__all__ = [
    "DEFAULT_LEDGER_PATH",
    "LEVERS",
    "SAVINGS_DIMENSIONS",
    "SPEND_DIMENSIONS",
    "Ledger",
    "LedgerError",
    "LedgerRecord",
    "LedgerSink",
    "LedgerUnavailable",
    "LedgerWriter",
    "Lever",
    "PromptStorage",
    "RecordRejected",
    "default_ledger_location",
    "open_ledger",
    "prompt_fingerprint",
]

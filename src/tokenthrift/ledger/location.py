"""Where the ledger lives: one string picks the backend."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tokenthrift.ledger.base import Ledger
from tokenthrift.ledger.dialect import Database

# The embedded default the server uses (relative to its working directory).
DEFAULT_LEDGER_PATH = Path(".tokenthrift") / "ledger.db"
LEDGER_ENV = "TOKENTHRIFT_LEDGER"
_MEMORY_NAMES = frozenset({"memory", ":memory:", "sqlite://", "sqlite:///:memory:"})


def default_ledger_location() -> str:
    return os.environ.get(LEDGER_ENV) or str(DEFAULT_LEDGER_PATH)


def sqlite_path(location: str) -> str | None:
    """The SQLite file a location names (``":memory:"`` for memory); None if not SQLite.

    ``sqlite:///rel/path.db`` and ``sqlite:////abs/path.db`` follow SQLAlchemy's
    convention; anything without a scheme is a file path.
    """
    if location in _MEMORY_NAMES:
        return ":memory:"
    if location.startswith("sqlite:///"):
        return location[len("sqlite:///") :]
    if "://" in location:
        return None
    return location


def open_ledger(location: str, *, migrate: bool = True, **options: Any) -> Ledger:
    """Open ``postgresql://…``/``postgres://…``, ``sqlite:///path``, a path, or ``memory``.

    ``options`` go to the backend (``schema=`` for PostgreSQL, ``busy_timeout_ms=`` for
    SQLite). With ``migrate`` the schema is brought up to date first.
    """
    ledger: Ledger
    if location.startswith(("postgresql://", "postgres://")):
        from tokenthrift.ledger.postgres import PostgresLedger

        ledger = PostgresLedger(location, **options)
    else:
        path = sqlite_path(location)
        if path is None:
            scheme = location.split("://", 1)[0]
            raise ValueError(
                f"unsupported ledger scheme {scheme!r}: use postgresql://, sqlite:/// or a path"
            )
        from tokenthrift.ledger.sqlite import SQLiteLedger

        ledger = SQLiteLedger(path, **options)
    if migrate:
        try:
            ledger.migrate()
        except BaseException:
            ledger.close()
            raise
    return ledger


def open_database(location: str, schema: str | None = None) -> Database:
    """A new migrated connection to the ledger's database at ``location``, for stores that
    keep their own tables beside the ledger (governance, stored responses)."""
    from tokenthrift.ledger import migrations

    db: Database
    if location.startswith(("postgresql://", "postgres://")):
        from tokenthrift.ledger.postgres import PostgresDatabase

        db = PostgresDatabase(location, schema=schema)
    else:
        from tokenthrift.ledger.sqlite import SQLiteDatabase

        path = sqlite_path(location)
        if path is None:
            raise ValueError(f"unsupported ledger location {location.split('://')[0]!r}")
        db = SQLiteDatabase(path)
    migrations.migrate(db)
    return db

"""The resume file of a ``batch run``: which chunk reached which step, written atomically
(temp file + rename) before and after every remote step.

A chunk goes ``pending → submitting → submitted → downloaded``. ``submitting`` is written
*before* the batch is created, with the run id the batch carries in its metadata (OpenAI),
so a run killed between "create" and "save" finds its batch again on resume instead of
sending the requests a second time.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .chunks import Chunk


@dataclass(slots=True)
class ChunkState:
    index: int
    protocol: str
    model: str
    lines: list[int]
    status: str = "pending"
    batch_id: str | None = None
    file_id: str | None = None
    submitting_at: float | None = None


@dataclass(slots=True)
class RunState:
    path: Path
    input_sha256: str
    run_id: str
    chunks: list[ChunkState] = field(default_factory=list)

    @classmethod
    def open(cls, path: Path, input_path: Path, chunks: list[Chunk]) -> RunState:
        digest = file_digest(input_path)
        if path.exists():
            data = json.loads(path.read_text())
            if data.get("input_sha256") != digest:
                raise ValueError(f"{path} belongs to another input file; delete it or pass "
                                 "--state with a new path")
            return cls(path, digest, data["run_id"],
                       [ChunkState(**c) for c in data["chunks"]])
        state = cls(path, digest, uuid.uuid4().hex[:16],
                    [ChunkState(c.index, c.protocol, c.model, list(c.lines)) for c in chunks])
        state.save()
        return state

    @property
    def results_dir(self) -> Path:
        return self.path.with_name(self.path.name + ".results")

    def results_file(self, chunk: ChunkState) -> Path:
        return self.results_dir / f"chunk-{chunk.index}.jsonl"

    def save(self) -> None:
        data: dict[str, Any] = {"input_sha256": self.input_sha256, "run_id": self.run_id,
                                "chunks": [asdict(c) for c in self.chunks]}
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(data))
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        tmp.replace(self.path)


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

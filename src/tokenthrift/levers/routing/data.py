"""Labelled routing data: one prompt per row with the strong and weak model's scores.

``PATH`` is a CSV file or a folder of CSV files (read in name order). A score column is
boolean (``true``/``false``, ``1``/``0``, ``yes``/``no``) or a number in [0, 1].

Rows whose prompt is listed in a contamination file next to the data are dropped (their
prompts leak into public router training data). "Next to" means, with ``D`` the data
folder (``PATH`` itself, or the folder holding the CSV file): ``D/contaminated_prompts.jsonl``
or ``<D.name>_contaminated_prompts.jsonl`` in ``D`` or its parent — which is how RouteLLM's
data is laid out (``routing/mmlu/`` with ``routing/mmlu_contaminated_prompts.jsonl``,
``mt_bench/contaminated_prompts.jsonl``). Each line is RouteLLM's
``{"eval_prompt": …}`` (or ``{"prompt": …}``, or a JSON string).
"""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})


class RoutingDataError(ValueError):
    """The labelled data cannot be read; the message says which file, row and column."""


@dataclass(slots=True)
class LabelledPrompts:
    prompts: list[str]
    strong: np.ndarray  # float64 scores in [0, 1]
    weak: np.ndarray
    # Name of the file (stem) each row came from: the "domain" for grouped splits.
    groups: list[str] = field(default_factory=list)
    dropped_contaminated: int = 0
    contamination_files: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.prompts)

    def subset(self, mask: np.ndarray) -> LabelledPrompts:
        idx = np.flatnonzero(mask)
        return LabelledPrompts(
            prompts=[self.prompts[i] for i in idx], strong=self.strong[idx], weak=self.weak[idx],
            groups=[self.groups[i] for i in idx] if self.groups else [],
        )


def parse_score(value: str, where: str) -> float:
    text = value.strip().lower()
    if text in _TRUE:
        return 1.0
    if text in _FALSE:
        return 0.0
    try:
        score = float(text)
    except ValueError:
        raise RoutingDataError(f"{where}: expected a boolean or a score in [0, 1], got {value!r}") from None
    if not 0.0 <= score <= 1.0:
        raise RoutingDataError(f"{where}: score {score} is outside [0, 1]")
    return score


def csv_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(path.glob("*.csv"))
        if not files:
            raise RoutingDataError(f"{path}: no .csv files in this folder")
        return files
    raise RoutingDataError(f"{path}: no such file or folder")


def contamination_files(path: Path) -> list[Path]:
    folder = path if path.is_dir() else path.parent
    candidates = [
        folder / "contaminated_prompts.jsonl",
        folder / f"{folder.name}_contaminated_prompts.jsonl",
        folder.parent / f"{folder.name}_contaminated_prompts.jsonl",
    ]
    return [c for c in candidates if c.is_file()]


def read_contaminated(files: list[Path]) -> set[str]:
    prompts: set[str] = set()
    for file in files:
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                raise RoutingDataError(f"{file}:{number}: not JSON") from None
            text = item if isinstance(item, str) else item.get("eval_prompt", item.get("prompt"))
            if isinstance(text, str):
                prompts.add(text.strip())
    return prompts


def load_labelled(
    path: str | Path, prompt_col: str, strong_col: str, weak_col: str, *, decontaminate: bool = True
) -> LabelledPrompts:
    root = Path(path)
    files = csv_files(root)
    contaminated_from = contamination_files(root) if decontaminate else []
    contaminated = read_contaminated(contaminated_from)
    data = LabelledPrompts([], np.zeros(0), np.zeros(0),
                           contamination_files=[str(f) for f in contaminated_from])
    strong: list[float] = []
    weak: list[float] = []
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # long passages (professional law)
    for file in files:
        with file.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in (prompt_col, strong_col, weak_col) if c not in (reader.fieldnames or [])]
            if missing:
                raise RoutingDataError(
                    f"{file}: no column {missing[0]!r} (columns: {', '.join(reader.fieldnames or [])})"
                )
            for number, row in enumerate(reader, 2):
                prompt = row[prompt_col] or ""
                if prompt.strip() in contaminated:
                    data.dropped_contaminated += 1
                    continue
                data.prompts.append(prompt)
                strong.append(parse_score(row[strong_col] or "", f"{file}:{number} {strong_col}"))
                weak.append(parse_score(row[weak_col] or "", f"{file}:{number} {weak_col}"))
                data.groups.append(file.stem)
    if not data.prompts:
        raise RoutingDataError(f"{root}: no rows")
    data.strong = np.asarray(strong, dtype=np.float64)
    data.weak = np.asarray(weak, dtype=np.float64)
    return data

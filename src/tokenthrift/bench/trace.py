"""The trace format: JSON Lines (optionally gzip), one request a line.

```json
{"id": "r17", "at_s": 12.5, "wire": "openai", "model": "gpt-4o",
 "messages": [{"role": "user", "content": "…"}], "max_tokens": 256, "stream": false,
 "attribution": {"team": "search", "task": "simple_qa"}, "deferrable": false,
 "key": {"kind": "labels", "labels": {"gpt-4o": true, "gpt-4o-mini": false}}}
```

``key`` is one answer key or a list of them (all must hold): ``labels`` (the model that
served the answer is labelled true), ``class`` (the answer was generated for a request
of the same class), ``answers`` (one of the strings reached the upstream in the prompt).
A mistake names its line and key (``trace.jsonl:12: key.kind: …``).
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

Wire = Literal["openai", "anthropic"]
KINDS = ("labels", "class", "answers")
ATTRIBUTION_FIELDS = ("team", "user", "customer", "task", "tags")


class TraceError(ValueError):
    """A trace line that does not follow the format; the message says where."""


@dataclass(frozen=True, slots=True)
class LabelsKey:
    labels: dict[str, bool]
    kind: Literal["labels"] = "labels"


@dataclass(frozen=True, slots=True)
class ClassKey:
    name: str
    kind: Literal["class"] = "class"


@dataclass(frozen=True, slots=True)
class AnswersKey:
    answers: tuple[str, ...]
    kind: Literal["answers"] = "answers"


AnswerKey = LabelsKey | ClassKey | AnswersKey


@dataclass(slots=True)
class TraceRequest:
    id: str
    at_s: float
    wire: Wire
    model: str
    messages: list[dict[str, Any]]
    keys: tuple[AnswerKey, ...]
    max_tokens: int = 256
    stream: bool = False
    attribution: dict[str, Any] = field(default_factory=dict)
    deferrable: bool = False

    @property
    def kind(self) -> str:
        """The key's kind, or the kinds of a combined key joined by ``+``."""
        return "+".join(key.kind for key in self.keys)

    def to_json(self) -> dict[str, Any]:
        keys = [key_json(k) for k in self.keys]
        return {"id": self.id, "at_s": self.at_s, "wire": self.wire, "model": self.model,
                "messages": self.messages, "max_tokens": self.max_tokens,
                "stream": self.stream, "attribution": self.attribution,
                "deferrable": self.deferrable, "key": keys[0] if len(keys) == 1 else keys}


def key_json(key: AnswerKey) -> dict[str, Any]:
    if isinstance(key, LabelsKey):
        return {"kind": "labels", "labels": dict(key.labels)}
    if isinstance(key, ClassKey):
        return {"kind": "class", "class": key.name}
    return {"kind": "answers", "answers": list(key.answers)}


def parse_key(raw: Any, where: str = "key") -> tuple[AnswerKey, ...]:
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        raise TraceError(f"{where}: expected a key or a non-empty list of keys")
    return tuple(_one_key(item, f"{where}[{i}]" if isinstance(raw, list) else where)
                 for i, item in enumerate(items))


def _one_key(raw: Any, where: str) -> AnswerKey:
    if not isinstance(raw, dict):
        raise TraceError(f"{where}: expected an object with 'kind', got {type(raw).__name__}")
    kind = raw.get("kind")
    if kind == "labels":
        labels = raw.get("labels")
        if not isinstance(labels, dict) or not all(
                isinstance(k, str) and isinstance(v, bool) for k, v in labels.items()):
            raise TraceError(f"{where}.labels: expected an object of model name → true/false")
        return LabelsKey(dict(labels))
    if kind == "class":
        name = raw.get("class")
        if not isinstance(name, str) or not name:
            raise TraceError(f"{where}.class: expected a non-empty string")
        return ClassKey(name)
    if kind == "answers":
        answers = raw.get("answers")
        if not isinstance(answers, list) or not answers or not all(
                isinstance(a, str) and a for a in answers):
            raise TraceError(f"{where}.answers: expected a non-empty list of non-empty strings")
        return AnswersKey(tuple(answers))
    raise TraceError(f"{where}.kind: expected one of {', '.join(KINDS)}, got {kind!r}")


def parse_request(raw: Any) -> TraceRequest:
    if not isinstance(raw, dict):
        raise TraceError("expected a JSON object")
    rid = raw.get("id")
    if not isinstance(rid, str | int) or isinstance(rid, bool) or rid == "":
        raise TraceError("id: expected a non-empty string")
    at_s = raw.get("at_s", 0.0)
    if not isinstance(at_s, int | float) or isinstance(at_s, bool) or at_s < 0:
        raise TraceError("at_s: expected seconds >= 0")
    wire = raw.get("wire", "openai")
    if wire not in ("openai", "anthropic"):
        raise TraceError(f"wire: expected openai or anthropic, got {wire!r}")
    model = raw.get("model")
    if not isinstance(model, str) or not model:
        raise TraceError("model: expected a model name")
    messages = raw.get("messages")
    if not isinstance(messages, list) or not messages or not all(
            isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages):
        raise TraceError("messages: expected a non-empty list of {role, content}")
    if not any(m["role"] != "system" for m in messages):
        raise TraceError("messages: expected at least one non-system message")
    max_tokens = raw.get("max_tokens", 256)
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise TraceError("max_tokens: expected an integer >= 1")
    attribution = raw.get("attribution") or {}
    if not isinstance(attribution, dict) or set(attribution) - set(ATTRIBUTION_FIELDS):
        raise TraceError(f"attribution: expected an object with keys among "
                         f"{', '.join(ATTRIBUTION_FIELDS)}")
    if "key" not in raw:
        raise TraceError("key: required")
    for name in ("stream", "deferrable"):
        if not isinstance(raw.get(name, False), bool):
            raise TraceError(f"{name}: expected true or false")
    return TraceRequest(id=str(rid), at_s=float(at_s), wire=wire, model=model,
                        messages=messages, keys=parse_key(raw["key"]), max_tokens=max_tokens,
                        stream=raw.get("stream", False), attribution=attribution,
                        deferrable=raw.get("deferrable", False))


def read_trace(path: str | Path) -> list[TraceRequest]:
    """Every request of the trace, in send order (``at_s``, then line order)."""
    requests: list[TraceRequest] = []
    seen: set[str] = set()
    for number, line in enumerate(_lines(Path(path)), start=1):
        if not line.strip():
            continue
        try:
            request = parse_request(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            raise TraceError(f"{path}:{number}: not JSON ({exc})") from None
        except TraceError as exc:
            raise TraceError(f"{path}:{number}: {exc}") from None
        if request.id in seen:
            raise TraceError(f"{path}:{number}: id: {request.id!r} appears twice")
        seen.add(request.id)
        requests.append(request)
    if not requests:
        raise TraceError(f"{path}: the trace has no requests")
    return sorted(requests, key=lambda r: r.at_s)  # stable: ties keep line order


def write_trace(path: str | Path, requests: Iterable[TraceRequest]) -> int:
    """Write JSON Lines (gzip when the name ends in .gz, byte-identical for equal input)."""
    data = b"".join(orjson.dumps(r.to_json()) + b"\n" for r in requests)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.suffix == ".gz":
        with target.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0,
                                                     filename="") as out:
            out.write(data)
    else:
        target.write_bytes(data)
    return data.count(b"\n")


def _lines(path: Path) -> Iterator[bytes]:
    if not path.exists():
        raise TraceError(f"{path}: no such trace file")
    if path.suffix == ".gz":
        with gzip.open(path, "rb") as handle:
            yield from io.BufferedReader(handle)  # type: ignore[arg-type]
    else:
        with path.open("rb") as handle:
            yield from handle

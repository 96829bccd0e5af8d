"""``tokenthrift bench make-trace``: a workload with answer keys from public labelled data.

Fresh requests come from two sources whose terms allow shipping prompts derived from
them (the default, ``--sources open``):

* **MMLU questions** with per-prompt correctness of a strong and a weak model
  (lm-sys/RouteLLM's evaluation data, Apache-2.0), only from the 14 domains the shipped
  router never saw in training. Key: ``labels`` (the strong models — gpt-4o,
  claude-sonnet-4-5 — carry gpt-4-1106-preview's correctness, the weak ones —
  gpt-4o-mini, claude-haiku-4-5 — Mixtral-8x7B's) and ``class``.
* **Long-context QA**: an NQ question over ``passages`` Wikipedia passages (its gold one
  among other questions' gold passages; lost-in-the-middle's NQ-open oracle file, MIT,
  text CC BY-SA). Key: ``answers`` (NQ's answer strings) and ``class``.

``--sources all`` adds **QQP** question pairs (Quora: non-commercial, evaluation only —
never ship such a trace): label-1 pairs as paraphrases, label-0 pairs as near misses.

Then, with the proportions of ``Mix``: exact repeats of earlier requests; paraphrases
(the same question reworded: MMLU in another instruction/option layout, QA asked another
way — same class); hard negatives (a near-duplicate of an earlier request that is
another class: MMLU options reordered so the letter changes, QA over the same passages
asking another passage's question); a long shared system prompt per team on a share of
requests; a deferrable share (an analytics team's bulk work); an Anthropic-wire share
asking Claude; streamed requests; arrivals over ``hours`` simulated hours with a
day-shaped rate, repeats following their original after an exponential gap.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import random
from collections import Counter
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .trace import AnswerKey, AnswersKey, ClassKey, LabelsKey, TraceRequest

STRONG = {"openai": "gpt-4o", "anthropic": "claude-sonnet-4-5"}
WEAK = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5"}
_STRONG_COL, _WEAK_COL = "gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1"
TEAMS = {"mmlu": ("tutor", "support"), "qa": ("search",), "faq": ("support",)}


@dataclass(frozen=True, slots=True)
class Mix:
    """The proportions of a trace (shares of all requests unless said otherwise)."""

    exact_repeat: float = 0.14  # verbatim repeat of an earlier request
    paraphrase: float = 0.10  # same question reworded (same class)
    hard_negative: float = 0.05  # near-duplicate of an earlier request, another class
    qa: float = 0.35  # of fresh requests: long-context QA (the rest MMLU; QQP with --sources all)
    faq: float = 0.0  # of fresh requests: QQP questions (only with --sources all)
    long_system: float = 0.35  # requests with their team's long shared system prompt
    deferrable: float = 0.10  # MMLU requests from the analytics team that may wait
    anthropic: float = 0.30  # requests in the Anthropic wire format asking Claude
    stream: float = 0.20
    passages: int = 10  # passages per long-context QA prompt
    hours: float = 8.0  # simulated hours the arrivals span
    repeat_gap_min: float = 30.0  # mean minutes between a request and its repeat

    @classmethod
    def parse(cls, items: tuple[str, ...] | list[str]) -> Mix:
        known = {f.name: f.type for f in fields(cls)}
        values: dict[str, Any] = {}
        for item in items:
            name, _, raw = item.partition("=")
            if name not in known or not raw:
                raise ValueError(f"--mix {item!r}: expected NAME=VALUE with NAME one of "
                                 f"{', '.join(known)}")
            values[name] = int(raw) if name == "passages" else float(raw)
        mix = replace(cls(), **values)
        mix.check()
        return mix

    def check(self) -> None:
        shares = ("exact_repeat", "paraphrase", "hard_negative", "qa", "faq", "long_system",
                  "deferrable", "anthropic", "stream")
        for name in shares:
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"--mix {name}: expected a share between 0 and 1")
        if self.exact_repeat + self.paraphrase + self.hard_negative >= 0.9:
            raise ValueError("--mix: repeats, paraphrases and hard negatives leave no fresh "
                             "requests")
        if self.qa + self.faq > 1 or self.passages < 1 or self.hours <= 0:
            raise ValueError("--mix: qa + faq <= 1, passages >= 1 and hours > 0 expected")


@dataclass(frozen=True, slots=True)
class TraceSpec:
    requests: int = 5000
    seed: int = 11
    mix: Mix = field(default_factory=Mix)
    qqp: bool = False  # include QQP (evaluation-only terms)


@dataclass(slots=True)
class Item:
    """A request before its wire/model/time are chosen."""

    kind: str  # mmlu | qa | faq
    messages: list[dict[str, Any]]
    keys: tuple[AnswerKey, ...]
    team: str
    variant: str = "fresh"
    at_s: float = 0.0
    wire: str = "openai"
    stream: bool = False
    deferrable: bool = False


# --- sources ------------------------------------------------------------------------------


def load_mmlu(data: Path) -> list[tuple[str, str, bool, bool]]:
    """(domain, prompt, strong right, weak right) from the router's held-out domains."""
    folder = data / "routing" / "mmlu"
    router = Path(__file__).parent.parent / "levers" / "routing" / "data" / "default_router.json"
    trained = set(json.loads(router.read_text())["info"]["train_domains"])
    dropped = _contaminated(data / "routing" / "mmlu_contaminated_prompts.jsonl")
    rows = []
    for path in sorted(folder.glob("mmlu_*.csv")):
        domain = path.stem.removeprefix("mmlu_")
        if domain in trained:
            continue
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                if row["prompt"] not in dropped:
                    rows.append((domain, row["prompt"], _bool(row[_STRONG_COL]),
                                 _bool(row[_WEAK_COL])))
    if not rows:
        raise ValueError(f"{folder}: no MMLU prompts outside the router's training domains")
    return rows


def load_nq(data: Path) -> list[dict[str, Any]]:
    path = data / "compression" / "nq_open_oracle_dev.jsonl.gz"
    with gzip.open(path, "rt") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def load_qqp(data: Path) -> list[dict[str, Any]]:
    path = data / "semcache" / "qqp_pairs_dev.jsonl"
    with path.open() as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _contaminated(path: Path) -> set[str]:
    if not path.exists():
        return set()
    return {json.loads(line).get("eval_prompt", "") for line in path.read_text().splitlines()
            if line.strip()}


def _bool(value: str) -> bool:
    return value.strip().lower() in ("true", "1", "1.0")


# --- prompts ------------------------------------------------------------------------------


def labels_key(strong: bool, weak: bool) -> LabelsKey:
    return LabelsKey({STRONG["openai"]: strong, STRONG["anthropic"]: strong,
                      WEAK["openai"]: weak, WEAK["anthropic"]: weak})


def split_mmlu(prompt: str) -> tuple[str, list[tuple[str, str]]]:
    """The stem and the (letter, option) pairs of a RouteLLM MMLU prompt."""
    lines = prompt.removesuffix("Answer:").rstrip().split("\n")
    options: list[tuple[str, str]] = []
    while lines and len(lines[-1]) > 2 and lines[-1][1:3] == ". " and lines[-1][0] in "ABCD":
        line = lines.pop()
        options.insert(0, (line[0], line[3:]))
    return "\n".join(lines), options


def mmlu_prompt(stem: str, options: list[tuple[str, str]], layout: int) -> str:
    if layout == 0:
        return "\n".join([stem, *(f"{k}. {v}" for k, v in options), "Answer:"])
    if layout == 1:
        body = "\n".join(f"({k.lower()}) {v}" for k, v in options)
        return (f"Answer the following multiple-choice question with the letter of the "
                f"correct option.\n\nQuestion: {stem}\n{body}")
    body = "\n".join(f"{k}) {v}" for k, v in options)
    return f"{stem}\n\nWhich option is correct?\n{body}\nReply with one letter."


def qa_prompt(passages: list[dict[str, Any]], question: str, layout: int) -> str:
    docs = "\n\n".join(f"Document [{i + 1}] (Title: {p['title']}) {p['text']}"
                       for i, p in enumerate(passages))
    if layout == 0:
        return (f"Write a high-quality answer for the given question using only the provided "
                f"search results.\n\n{docs}\n\nQuestion: {question}\nAnswer:")
    return (f"Using only the search results below, answer briefly.\n\n{docs}\n\n"
            f"Based on these documents, {question}?")


def system_prompts(nq: list[dict[str, Any]], rng: random.Random) -> dict[str, str]:
    """A long static system prompt per team: instructions plus reference notes made of
    Wikipedia passages (about 1,300 tokens, above every provider's caching minimum)."""
    teams = sorted({t for group in TEAMS.values() for t in group} | {"analytics"})
    out = {}
    for team in teams:
        notes = rng.sample(nq, 12)
        body = "\n\n".join(f"Note {i + 1} ({n['ctxs'][0]['title']}): {n['ctxs'][0]['text']}"
                           for i, n in enumerate(notes))
        out[team] = (f"You are the {team} team's assistant at Example Corp. Be accurate and "
                     f"concise; say so when you do not know. Reference notes follow; use them "
                     f"only when relevant.\n\n{body}")
    return out


# --- building -----------------------------------------------------------------------------


class Builder:
    def __init__(self, data: Path, spec: TraceSpec) -> None:
        self.spec, self.mix = spec, spec.mix
        self.rng = random.Random(spec.seed)
        self.mmlu = load_mmlu(data)
        self.nq = load_nq(data)
        self.qqp = load_qqp(data) if spec.qqp else []
        self.systems = system_prompts(self.nq, random.Random(spec.seed + 1))
        self.rng.shuffle(self.mmlu)
        self.rng.shuffle(self.nq)
        self.rng.shuffle(self.qqp)
        self._next = Counter[str]()

    def take(self, pool: str) -> int:
        index = self._next[pool]
        self._next[pool] += 1
        return index

    def fresh(self) -> Item:
        draw = self.rng.random()
        faq = self.mix.faq if self.qqp else 0.0
        if draw < self.mix.qa:
            return self.fresh_qa()
        if draw < self.mix.qa + faq:
            return self.fresh_faq()
        return self.fresh_mmlu()

    def fresh_mmlu(self) -> Item:
        i = self.take("mmlu") % len(self.mmlu)
        _domain, prompt, strong, weak = self.mmlu[i]
        team = self.rng.choice(TEAMS["mmlu"])
        deferrable = self.rng.random() < self.mix.deferrable / max(1e-9, 1 - self.mix.qa)
        return Item("mmlu", [{"role": "user", "content": prompt}],
                    (labels_key(strong, weak), ClassKey(f"mmlu-{i}")),
                    "analytics" if deferrable else team, deferrable=deferrable)

    def fresh_qa(self) -> Item:
        i = self.take("qa") % len(self.nq)
        row = self.nq[i]
        passages = self.qa_passages(i)
        prompt = qa_prompt(passages, row["question"], 0)
        return Item("qa", [{"role": "user", "content": prompt}],
                    (AnswersKey(tuple(row["answers"])), ClassKey(f"qa-{i}")), "search")

    def qa_passages(self, i: int) -> list[dict[str, Any]]:
        """The gold passage of question ``i`` at a random place among other questions'."""
        others = [j for j in self.rng.sample(range(len(self.nq)), self.mix.passages + 1)
                  if j != i][: self.mix.passages - 1]
        passages = [self.nq[j]["ctxs"][0] for j in others]
        passages.insert(self.rng.randrange(len(passages) + 1), self.nq[i]["ctxs"][0])
        return passages

    def fresh_faq(self) -> Item:
        i = self.take("faq") % len(self.qqp)
        return Item("faq", [{"role": "user", "content": self.qqp[i]["text_a"]}],
                    (ClassKey(f"faq-{i}"),), "support")

    # -- derived requests --------------------------------------------------------------

    def paraphrase(self, origin: Item) -> Item | None:
        text = origin.messages[-1]["content"]
        if origin.kind == "mmlu":
            stem, options = split_mmlu(text)
            if len(options) < 2:
                return None
            new = mmlu_prompt(stem, options, self.rng.choice((1, 2)))
        elif origin.kind == "qa":
            i = int(_class(origin).removeprefix("qa-"))
            docs = text.split("\n\n", 1)[1].rsplit("\n\nQuestion: ", 1)[0]
            new = (f"Using only the search results below, answer briefly.\n\n{docs}\n\n"
                   f"Based on these documents, {self.nq[i]['question']}?")
        else:
            i = int(_class(origin).removeprefix("faq-"))
            if self.qqp[i]["label"] != 1:
                return None
            new = self.qqp[i]["text_b"]
        return _derived(origin, new, origin.keys, "paraphrase")

    def hard_negative(self, origin: Item) -> Item | None:
        text = origin.messages[-1]["content"]
        if origin.kind == "mmlu":
            stem, options = split_mmlu(text)
            if len(options) < 3:
                return None
            texts = [v for _, v in options]
            shuffled = texts[1:] + texts[:1]  # every option moves: the letter changes
            new = mmlu_prompt(stem, list(zip("ABCD", shuffled, strict=False)), 0)
            keys = (origin.keys[0], ClassKey(_class(origin) + "-reordered"))
            return _derived(origin, new, keys, "hard_negative")
        if origin.kind == "qa":
            return self.other_question(origin, text)
        i = int(_class(origin).removeprefix("faq-"))
        if self.qqp[i]["label"] != 0:
            return None
        return _derived(origin, self.qqp[i]["text_b"], (ClassKey(f"faq-{i}-b"),),
                        "hard_negative")

    def other_question(self, origin: Item, text: str) -> Item | None:
        """The same passages, asking the question of another passage in them."""
        titles = {p["ctxs"][0]["title"]: j for j, p in enumerate(self.nq)}
        mine = int(_class(origin).removeprefix("qa-"))
        for title in self.rng.sample(sorted(titles), len(titles))[:200]:
            j = titles[title]
            if j != mine and f"(Title: {title})" in text:
                head = text.rsplit("\n\nQuestion: ", 1)[0]
                new = f"{head}\n\nQuestion: {self.nq[j]['question']}\nAnswer:"
                keys = (AnswersKey(tuple(self.nq[j]["answers"])), ClassKey(f"qa-{j}-ctx{mine}"))
                return _derived(origin, new, keys, "hard_negative")
        return None


def _class(item: Item) -> str:
    return next(k.name for k in item.keys if isinstance(k, ClassKey))


def _derived(origin: Item, text: str, keys: tuple[AnswerKey, ...], variant: str) -> Item:
    messages = [*origin.messages[:-1], {"role": "user", "content": text}]
    return Item(origin.kind, messages, keys, origin.team, variant, wire=origin.wire,
                stream=origin.stream, deferrable=origin.deferrable)


def arrival(rng: random.Random, hours: float) -> float:
    """A time in [0, hours·3600) from a day-shaped rate (quiet start, busy middle)."""
    span = hours * 3600.0
    while True:
        t = rng.random() * span
        if rng.random() < 0.5 * (1 - math.cos(2 * math.pi * t / span)) * 0.8 + 0.2:
            return t


def build_trace(data_dir: str | Path, spec: TraceSpec) -> tuple[list[TraceRequest], dict[str, Any]]:
    """The trace and facts about it (counts by variant and kind, sources)."""
    spec.mix.check()
    data = Path(data_dir)
    builder = Builder(data, spec)
    rng, mix = builder.rng, spec.mix
    derived_share = mix.exact_repeat + mix.paraphrase + mix.hard_negative
    items: list[Item] = []
    fresh: list[Item] = []
    span = mix.hours * 3600.0
    while len(items) < spec.requests:
        draw = rng.random()
        item: Item | None = None
        if fresh and draw < derived_share:
            origin = rng.choice(fresh)
            if draw < mix.exact_repeat:
                item = _derived(origin, origin.messages[-1]["content"], origin.keys,
                                "exact_repeat")
            elif draw < mix.exact_repeat + mix.paraphrase:
                item = builder.paraphrase(origin)
            else:
                item = builder.hard_negative(origin)
            if item is None:
                continue
            gap = rng.expovariate(1.0 / (mix.repeat_gap_min * 60.0))
            item.at_s = min(origin.at_s + gap, span - 1e-3)
        else:
            item = builder.fresh()
            item.at_s = arrival(rng, mix.hours)
            _dress(item, builder, rng)
            fresh.append(item)
        items.append(item)
    items.sort(key=lambda it: it.at_s)
    trace = [_request(i, item) for i, item in enumerate(items)]
    return trace, _facts(items, spec)


def _dress(item: Item, builder: Builder, rng: random.Random) -> None:
    """Wire, stream and the team's long system prompt of a fresh request."""
    mix = builder.mix
    if rng.random() < mix.long_system:
        item.messages.insert(0, {"role": "system", "content": builder.systems[item.team]})
    item.wire = "anthropic" if rng.random() < mix.anthropic else "openai"
    item.stream = not item.deferrable and rng.random() < mix.stream


def _request(index: int, item: Item) -> TraceRequest:
    attribution: dict[str, Any] = {"team": item.team}
    if item.kind == "qa":
        attribution["task"] = "extraction"
    return TraceRequest(id=f"r{index:05d}", at_s=round(item.at_s, 3), wire=item.wire,  # type: ignore[arg-type]
                        model=STRONG[item.wire], messages=item.messages, keys=item.keys,
                        max_tokens=256, stream=item.stream, attribution=attribution,
                        deferrable=item.deferrable)


def _facts(items: list[Item], spec: TraceSpec) -> dict[str, Any]:
    sources = ["routing/mmlu (RouteLLM, Apache-2.0; router held-out domains only)",
               "compression/nq_open_oracle_dev.jsonl.gz (MIT; Wikipedia CC BY-SA)"]
    if spec.qqp:
        sources.append("semcache/qqp_pairs_dev.jsonl (Quora: non-commercial, evaluation only)")
    return {
        "seed": spec.seed,
        "mix": {f.name: getattr(spec.mix, f.name) for f in fields(spec.mix)},
        "by_variant": dict(sorted(Counter(i.variant for i in items).items())),
        "by_kind": dict(sorted(Counter(i.kind for i in items).items())),
        "long_system_prompt": sum(1 for i in items if i.messages[0]["role"] == "system"),
        "deferrable": sum(1 for i in items if i.deferrable),
        "anthropic": sum(1 for i in items if i.wire == "anthropic"),
        "stream": sum(1 for i in items if i.stream),
        "span_hours": round(max((i.at_s for i in items), default=0) / 3600, 2),
        "sources": sources,
    }

"""The embedded matcher: partition isolation, guards at lookup, TTL, eviction, persistence.

Most tests use a word-overlap embedder (the emulator's deterministic hashing vectors) so
they are fast and exact; one runs the real default embedder on a paraphrase.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from tokenthrift.emulator.embeddings import embed as hashed_embedding
from tokenthrift.levers.cache.semantic import Decision, SemanticSettings, build_matcher
from tokenthrift.levers.cache.semantic.embedders import Embeddings
from tokenthrift.levers.cache.semantic.evaluation import pair_similarities
from tokenthrift.levers.cache.semantic.matcher import LocalMatcher


class WordEmbedder:
    """Texts sharing most words get a high cosine; counts its calls."""

    def __init__(self, name: str = "words") -> None:
        self.name = name
        self.dim = 64
        self.max_tokens: int | None = None
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> Embeddings:
        self.calls += 1
        vectors = np.array([hashed_embedding(t, self.dim) for t in texts], dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return Embeddings(vectors, Decimal("0.000001"))


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def matcher(tmp_path: Path | None = None, *, threshold: float = 0.5, clock: Clock | None = None,
            embedder: WordEmbedder | None = None, max_entries: int = 1000,
            flat_max: int = 4096) -> LocalMatcher:
    return LocalMatcher(
        embedder or WordEmbedder(), Decision(threshold),
        data_dir=str(tmp_path) if tmp_path else None, clock=clock or Clock(),
        max_entries=max_entries, flat_max=flat_max,
    )


def test_a_lookup_only_sees_its_own_partition() -> None:
    m = matcher()
    m.add("tenant-a|gpt-4o", "How do I reset my password?", "a1", None)
    assert m.lookup("tenant-b|gpt-4o", "How do I reset my password?") is None
    assert m.lookup("tenant-a|gpt-4o-mini", "How do I reset my password?") is None
    hit = m.lookup("tenant-a|gpt-4o", "How do I reset my password?")
    assert hit is not None and hit.entry_id == "a1" and hit.similarity == pytest.approx(1.0, abs=1e-3)


def test_isolation_holds_when_a_partition_is_a_graph() -> None:
    m = matcher(flat_max=8)
    for i in range(40):
        m.add("big", f"question number {i} about topic {i % 7}", f"big-{i}", None)
        m.add(f"small-{i}", f"question number {i} about topic {i % 7}", f"small-{i}", None)
    for i in range(40):
        hit = m.lookup(f"small-{i}", f"question number {i} about topic {i % 7}")
        assert hit is not None and hit.entry_id == f"small-{i}"
        hit = m.lookup("big", f"question number {i} about topic {i % 7}")
        assert hit is not None and hit.entry_id == f"big-{i}"


def test_a_guard_vetoes_the_nearest_entry_and_the_next_acceptable_one_is_served() -> None:
    m = matcher(threshold=0.3)
    m.add("p", "please turn on the kitchen lights now", "on", None)
    found = m.search("p", "please turn off the kitchen lights now")
    assert found.match is None and found.rejected_by == "negation"
    m.add("p", "please switch the kitchen lights off", "off", None)
    found = m.search("p", "please turn off the kitchen lights now")
    assert found.match is not None and found.match.entry_id == "off"


def test_entries_expire_with_the_injected_clock() -> None:
    clock = Clock()
    m = matcher(clock=clock)
    m.add("p", "what is the weather in Paris", "w", clock.now + 10)
    m.add("p", "how tall is the Eiffel tower", "t", None)
    clock.now += 9
    assert m.lookup("p", "what is the weather in Paris") is not None
    clock.now += 2
    assert m.lookup("p", "what is the weather in Paris") is None
    assert len(m) == 1  # the expired entry is gone, not just hidden
    assert m.lookup("p", "how tall is the Eiffel tower") is not None


def test_max_entries_evicts_the_least_recently_used() -> None:
    clock = Clock()
    m = matcher(clock=clock, max_entries=3)
    for i, text in enumerate(["alpha apples", "bravo bananas", "charlie cherries"]):
        clock.now += 1
        m.add("p", text, f"e{i}", None)
    clock.now += 1
    assert m.lookup("p", "alpha apples") is not None  # e0 is now the most recently used
    clock.now += 1
    m.add("p", "delta dates", "e3", None)
    assert len(m) == 3
    assert m.lookup("p", "bravo bananas") is None
    assert m.lookup("p", "alpha apples") is not None


def test_adding_an_existing_id_replaces_it_and_remove_and_clear_drop_entries() -> None:
    m = matcher()
    m.add("t1|m", "red roses", "x", None)
    assert m.lookup("t1|m", "red roses").entry_id == "x"  # type: ignore[union-attr]
    m.add("t1|m", "blue violets", "x", None)
    assert len(m) == 1 and m.lookup("t1|m", "red roses") is None
    assert m.lookup("t1|m", "blue violets").entry_id == "x"  # type: ignore[union-attr]
    m.add("t1|m", "green grass", "y", None)
    m.add("t2|m", "green grass", "z", None)
    assert m.lookup("t1|m", "green grass").entry_id == "y"  # type: ignore[union-attr]
    m.remove("y")
    assert m.lookup("t1|m", "green grass") is None
    assert m.clear("t1|") == 1 and len(m) == 1
    assert m.lookup("t2|m", "green grass").entry_id == "z"  # type: ignore[union-attr]
    assert m.clear() == 1 and len(m) == 0


def test_lookup_then_add_embeds_the_text_once_and_reports_the_cost() -> None:
    embedder = WordEmbedder()
    m = matcher(embedder=embedder)
    assert m.search("p", "anything").cost_usd == 0  # empty partition: nothing embedded
    assert embedder.calls == 0
    m.add("p", "first question here", "1", None)
    found = m.search("p", "second question there")
    assert found.cost_usd == Decimal("0.000001")
    m.add("p", "second question there", "2", None)
    assert embedder.calls == 2


def test_the_index_survives_a_restart(tmp_path: Path) -> None:
    clock = Clock()
    first = matcher(tmp_path, clock=clock, flat_max=8, threshold=0.95)
    for i in range(30):  # one graph partition, several flat ones
        first.add("graph", f"stored question {i} about subject {i * 3}", f"g{i}", None)
    first.add("flat", "how do I bake bread", "bread", clock.now + 100)
    first.add("flat", "how do I brew beer", "beer", clock.now + 5)
    assert first.lookup("flat", "how do I brew beer").entry_id == "beer"  # type: ignore[union-attr]
    first.close()
    clock.now += 10
    second = matcher(tmp_path, clock=clock, flat_max=8, threshold=0.95)
    assert len(second) == 31  # what expired while it was down is dropped on load
    assert second.lookup("graph", "stored question 17 about subject 51").entry_id == "g17"  # type: ignore[union-attr]
    assert second.lookup("flat", "how do I bake bread").entry_id == "bread"  # type: ignore[union-attr]
    assert second.lookup("flat", "how do I brew beer") is None
    second.add("flat", "how do I make cheese", "cheese", None)  # slots do not collide
    assert second.lookup("flat", "how do I bake bread").entry_id == "bread"  # type: ignore[union-attr]
    second.save()
    assert len(matcher(tmp_path, clock=clock)) == 32


def test_an_index_built_by_another_embedder_is_not_reused(tmp_path: Path) -> None:
    first = matcher(tmp_path)
    first.add("p", "some question", "q", None)
    first.save()
    assert len(matcher(tmp_path)) == 1  # the same embedder loads it
    assert len(matcher(tmp_path, embedder=WordEmbedder("other"))) == 0


def test_concurrent_lookups_and_adds_are_safe() -> None:
    m = matcher(max_entries=50)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(60):
                m.add(f"p{n % 2}", f"worker {n} question {i}", f"{n}-{i}", None)
                m.lookup(f"p{n % 2}", f"worker {n} question {i // 2}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(m) <= 50


def test_the_default_embedder_matches_a_paraphrase_and_not_an_opposite(tmp_path: Path) -> None:
    settings = SemanticSettings(enabled=True, threshold=0.8)
    m = build_matcher(settings, str(tmp_path))
    m.add("p", "How do I reset my password?", "reset", None)
    hit = m.lookup("p", "How can I reset my password?")
    assert hit is not None and hit.entry_id == "reset" and hit.similarity > 0.9
    m.add("q", "How do I enable notifications on my phone?", "enable", None)
    hit = m.lookup("q", "How can I enable notifications on my phone?")
    assert hit is not None and hit.entry_id == "enable"
    opposite = m.search("q", "How do I disable notifications on my phone?")
    assert opposite.match is None and opposite.rejected_by is not None
    m.close()


def test_a_lookup_scores_a_pair_exactly_as_eval_does() -> None:
    """Flat scan and HNSW graph both return the float16 cosine ``cache eval`` computes."""
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(300, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    m = matcher(flat_max=100)
    for i, v in enumerate(vectors):
        m.add_embedded("graph", f"text {i}", f"g{i}", None, v)
        m.add_embedded(f"flat-{i}", f"text {i}", f"f{i}", None, v)
    query = vectors[7] + 0.1 * vectors[8]
    query /= np.linalg.norm(query)
    expected = float(pair_similarities(query[None, :], vectors[7][None, :])[0])
    for partition in ("graph", "flat-7"):
        (_, similarity), *_ = m._index.search(partition, query, 1)  # type: ignore[union-attr]
        assert similarity == pytest.approx(expected, abs=1e-4)


def test_an_unreadable_saved_index_starts_the_cache_empty(tmp_path: Path) -> None:
    first = matcher(tmp_path)
    first.add("p", "some question", "q", None)
    first.save()
    assert len(matcher(tmp_path)) == 1  # readable, it is loaded
    (tmp_path / "semantic" / "entries.json").write_text("{not json")
    assert len(matcher(tmp_path)) == 0

"""``tokenthrift cache calibrate`` / ``cache eval`` on a small pairs file the test writes
itself, and the calibration arithmetic they rest on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from tokenthrift.cli.main import cli
from tokenthrift.emulator import Emulator, EmulatorConfig, create_app
from tokenthrift.levers.cache.semantic import Decision, SemanticSettings, decision_for
from tokenthrift.levers.cache.semantic.calibration import calibrate, curve, wilson_lower_bound
from tokenthrift.levers.cache.semantic.embedders import OpenAIEmbedder, build_embedder
from tokenthrift.levers.cache.semantic.matcher import LocalMatcher
from tokenthrift.levers.cache.semantic.pairs import read_pairs
from tokenthrift.server.runner import ServerThread

TOPICS = ["reset my password", "bake sourdough bread", "learn to swim", "fix a flat tyre",
          "write a cover letter", "grow tomatoes", "tie a tie", "clean a laptop keyboard"]


def synthetic_pairs() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for i, topic in enumerate(TOPICS):
        other = TOPICS[(i + 3) % len(TOPICS)]
        rows += [
            {"text_a": f"How do I {topic}?", "text_b": f"How can I {topic}?", "label": 1, "kind": "paraphrase"},
            {"text_a": f"How do I {topic}?", "text_b": f"What is the best way to {topic}?", "label": 1,
             "kind": "paraphrase"},
            {"text_a": f"How do I {topic}?", "text_b": f"How do I {other}?", "label": 0, "kind": "other topic"},
            {"text_a": f"How do I {topic} in 2 days?", "text_b": f"How do I {topic} in 5 days?", "label": 0,
             "kind": "number"},
            {"text_a": f"Should I {topic} today?", "text_b": f"Shouldn't I {topic} today?", "label": 0,
             "kind": "negation"},
        ]
    return rows


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pairs") / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in synthetic_pairs()))
    return path


def run(*args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(cli, ["cache", *args, "--format", "json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.output)


def test_calibrate_finds_a_threshold_for_a_reachable_target(pairs_file: Path) -> None:
    code, out = run("calibrate", "--pairs", str(pairs_file), "--target-precision", "0.8")
    assert code == 0 and out["reachable"] is True
    assert {"threshold", "precision", "recall", "pairs", "embedder"} <= set(out)
    assert out["pairs"] == 40 and out["embedder"] == "onnx-minilm"
    assert out["precision"] >= 0.8 and out["recall"] > 0.5


def test_calibrate_reports_the_ceiling_when_the_target_is_out_of_reach(tmp_path: Path) -> None:
    # Identical texts labelled both ways: no threshold can be right more than half the time.
    text = "What is the meaning of life?"
    rows = [{"text_a": text, "text_b": text, "label": i % 2} for i in range(80)]
    path = tmp_path / "noisy.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, out = run("calibrate", "--pairs", str(path), "--target-precision", "0.9")
    assert code == 1 and out["reachable"] is False
    assert out["precision"] == pytest.approx(0.5) and out["recall"] == 1.0


def test_eval_applies_the_live_default_decision(pairs_file: Path) -> None:
    code, out = run("eval", "--pairs", str(pairs_file))
    assert code == 0
    assert out["threshold"] == pytest.approx(decision_for(SemanticSettings()).threshold, abs=1e-6)
    assert set(out["by_kind"]) == {"paraphrase", "other topic", "number", "negation"}
    by_kind: dict[str, dict[str, float]] = out["by_kind"]
    assert by_kind["paraphrase"]["hit_rate"] > 0.5  # the decision does serve paraphrases…
    assert by_kind["number"]["hit_rate"] == 0 and by_kind["negation"]["hit_rate"] == 0
    assert out["false_hit_rate"] == 0 and out["precision"] == 1.0


def test_eval_hits_are_exactly_the_matchers_hits(pairs_file: Path) -> None:
    """Each pair as a live lookup: store text_b, look up text_a — the same verdicts."""
    threshold = 0.8
    _, out = run("eval", "--pairs", str(pairs_file), "--threshold", str(threshold))
    matcher = LocalMatcher(build_embedder("onnx-minilm"), Decision(threshold), data_dir=None)
    pairs = read_pairs(pairs_file)
    for i, pair in enumerate(pairs):
        matcher.add(f"pair-{i}", pair.text_b, f"e{i}", None)
    live_hits = [matcher.lookup(f"pair-{i}", p.text_a) is not None for i, p in enumerate(pairs)]
    assert 0 < sum(live_hits) < len(pairs)  # some verdicts each way, so the match means something
    assert out["hits"] == sum(live_hits)
    labels = [p.label for p in pairs]
    right = sum(h and y for h, y in zip(live_hits, labels, strict=True))
    assert out["recall"] == pytest.approx(right / sum(labels))


def test_eval_uses_the_settings_of_a_config_file(pairs_file: Path, tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text("cache:\n  semantic:\n    enabled: true\n    threshold: 0.5\n    guards: [numbers]\n")
    _, out = run("eval", "--pairs", str(pairs_file), "--config", str(config))
    assert out["threshold"] == 0.5 and out["guards"] == ["numbers"]
    by_kind: dict[str, dict[str, float]] = out["by_kind"]
    assert by_kind["number"]["hit_rate"] == 0 and by_kind["negation"]["hit_rate"] == 1.0


def test_a_malformed_pairs_file_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text_a": "a", "text_b": "b", "label": 1}\n{"text_a": "a", "label": 1}\n')
    result = CliRunner().invoke(cli, ["cache", "eval", "--pairs", str(path)])
    assert result.exit_code != 0 and "bad.jsonl:2" in result.output


def test_calibration_picks_the_lowest_threshold_that_holds_the_target() -> None:
    scores = np.array([0.99] * 40 + [0.95] * 40 + [0.90] * 40 + [float("-inf")] * 10)
    labels = np.array([1] * 40 + [1] * 36 + [0] * 4 + [1] * 20 + [0] * 20 + [1] * 10)
    found = calibrate(scores, labels, 0.9)
    assert found.reachable and found.threshold == 0.95
    assert found.precision == pytest.approx(76 / 80) and found.recall == pytest.approx(76 / 106)
    assert [p.hits for p in curve(scores, labels)] == [40, 80, 120]  # vetoed pairs never hit
    assert wilson_lower_bound(76, 80) < 76 / 80


@pytest.fixture(scope="module")
def emulator_url() -> Iterator[str]:
    with ServerThread(create_app(Emulator(EmulatorConfig()))) as server:
        yield server.url


def test_an_openai_compatible_embedder_reports_what_each_lookup_cost(emulator_url: str) -> None:
    embedder = OpenAIEmbedder("text-embedding-3-small", emulator_url + "/v1", api_key="sk-test",
                              price_per_mtok=Decimal("0.02"))
    result = embedder.embed(["How do I reset my password?", "Turn on the lights"])
    assert result.vectors.shape == (2, embedder.dim)
    assert np.allclose(np.linalg.norm(result.vectors, axis=1), 1.0, atol=1e-5)
    assert result.cost_usd is not None and result.cost_usd > 0
    matcher = LocalMatcher(embedder, Decision(0.9), data_dir=None)
    matcher.add("p", "How do I reset my password?", "pw", None)
    found = matcher.search("p", "How do I reset my password?")
    assert found.match is not None and found.cost_usd == 0  # embedded when it was added
    found = matcher.search("p", "How do I reset my password now?")
    assert found.cost_usd is not None and 0 < found.cost_usd < Decimal("0.000001")

"""The complexity router and the task classifier as users rely on them: train on labelled
prompts, save, load, same predictions; a higher quality target never sends fewer calls to
the strong model; the shipped models load and answer offline."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tokenthrift.cli.main import cli
from tokenthrift.levers.routing.data import load_labelled
from tokenthrift.levers.routing.router import ComplexityRouter
from tokenthrift.levers.routing.tasks import TASKS, TaskClassifier
from tokenthrift.levers.routing.training import TARGETS

EASY = ["What is the capital of {c}?", "Name a fruit that is {c}.", "Say hello to {c}.",
        "What colour is the sky in {c}?"]
HARD = ["Compute the integral of x^{n} * sin({n}x) from 0 to {n}, show every step.",
        "Statement 1 | Every group of order {n} is cyclic. Statement 2 | Z_{n} has a subgroup of order 3.",
        "Solve for x: {n}x^2 - 3x + {n} = 0 and prove the roots are irrational.",
        "If f(x) = {n}x^3 - 2x, find f'({n}) and the value of the series sum 1/k^{n}."]
PLACES = ["France", "Peru", "Japan", "Kenya", "Chile", "Norway", "Egypt", "Canada", "India", "Spain"]


def write_training_folder(root: Path, seed: int = 0) -> Path:
    """Two 'domains'; the weak model fails most maths prompts and passes the easy ones."""
    rng = random.Random(seed)
    root.mkdir()
    for domain in ("geo", "algebra", "misc", "calc", "trivia"):
        lines = ["prompt,strong,weak"]
        for i in range(30):
            hard = rng.random() < 0.5
            text = (rng.choice(HARD).format(n=rng.randint(2, 9)) if hard
                    else rng.choice(EASY).format(c=rng.choice(PLACES)))
            weak_ok = rng.random() < (0.15 if hard else 0.95)
            lines.append(f'"{text} ({domain} {i})",1,{int(weak_ok)}')
        (root / f"{domain}.csv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("routing")
    data = write_training_folder(root / "data")
    out = root / "router.json"
    result = CliRunner().invoke(cli, ["router", "train", "--data", str(data), "--prompt-col", "prompt",
                                      "--strong-col", "strong", "--weak-col", "weak", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return data, out


def test_train_save_load_gives_the_same_predictions(trained: tuple[Path, Path]) -> None:
    data_path, out = trained
    data = load_labelled(data_path, "prompt", "strong", "weak")
    first = ComplexityRouter.load(out)
    again = ComplexityRouter.from_json(first.to_json())
    assert np.allclose(first.p_weak_ok(data.prompts), again.p_weak_ok(data.prompts), atol=1e-6)
    assert first.info["rows"] == 150 and first.info["groups"] == 5


def test_trained_router_sends_maths_to_strong(trained: tuple[Path, Path]) -> None:
    _, out = trained
    router = ComplexityRouter.load(out)
    easy = router.probability("What is the capital of Italy?")
    hard = router.probability("Solve for x: 7x^2 - 3x + 7 = 0 and prove the roots are irrational.")
    assert easy > hard + 0.3
    assert easy >= router.threshold(0.95)  # the easy question goes to the weak model
    assert hard < router.threshold(0.999)  # and maths to strong when quality must be kept


def test_eval_of_the_trained_router_beats_random(trained: tuple[Path, Path]) -> None:
    data_path, out = trained
    result = CliRunner().invoke(cli, ["router", "eval", "--data", str(data_path), "--strong-col", "strong",
                                      "--weak-col", "weak", "--router", str(out), "--format", "json"])
    assert result.exit_code == 0, result.output
    numbers = json.loads(result.stdout)
    # Knowing each prompt's kind exactly gives about 0.73 here (labels are noisy).
    assert numbers["apgr"] > 0.65 > numbers["baselines"]["random"]["apgr"] + 0.1


def test_higher_quality_target_never_sends_fewer_calls_to_strong(trained: tuple[Path, Path]) -> None:
    data_path, out = trained
    router = ComplexityRouter.load(out)
    p = router.p_weak_ok(load_labelled(data_path, "prompt", "strong", "weak").prompts)
    targets = [0.5, *TARGETS, 0.955, 0.999, 1.0]
    strong_calls = [int(np.sum(p < router.threshold(t))) for t in sorted(targets)]
    assert strong_calls == sorted(strong_calls)
    assert strong_calls[-1] == len(p)  # 100% of strong quality: every call to strong


def test_shipped_router_loads_and_is_fast_enough_to_be_offline() -> None:
    router = ComplexityRouter.default()
    assert router.info["trained_on"].startswith("../shared/data/routing/mmlu")
    assert "professional_law" not in router.info["train_domains"]  # held out for the benchmark
    p = router.probability("What is 2 + 2?")
    assert 0.0 < p < 1.0


def test_router_json_from_another_feature_set_is_refused(trained: tuple[Path, Path]) -> None:
    raw = ComplexityRouter.load(trained[1]).to_json()
    raw["scalar_features"] = ["something_else"]
    with pytest.raises(ValueError, match="retrain"):
        ComplexityRouter.from_json(raw)


def test_task_classifier_labels_clear_requests_and_abstains_on_noise() -> None:
    classifier = TaskClassifier.default()
    cases = {
        "Translate this into German: where is the train station?": "translation",
        "Write a Python function that merges two sorted lists.": "code_generation",
        "Summarize the following in one sentence: the board approved the merger on Monday.": "summarization",
        "Write a poem about autumn leaves.": "creative_writing",
    }
    for text, task in cases.items():
        assert classifier.classify(text)[0] == task, text
    label, confidence = classifier.classify("zxq")
    assert label is None and confidence < classifier.min_confidence
    assert set(TASKS) == {"classification", "extraction", "summarization", "translation", "simple_qa",
                          "complex_reasoning", "code_generation", "creative_writing", "chat"}

"""``tokenthrift bench replay`` through real ``serve`` processes with the emulator upstream.

Hand-made traces only (no shared data). Every wrong answer below has a right one next
to it that differs only in what the lever did.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from click.testing import CliRunner

from tokenthrift.bench.compare import run_once, summary
from tokenthrift.bench.judge import correct
from tokenthrift.bench.replay import RunResult
from tokenthrift.bench.trace import read_trace
from tokenthrift.cli.main import cli

CAPITAL = [{"role": "system", "content": "Answer in one word."},
           {"role": "user", "content": "What is the capital of France?"}]
POLICY = {
    "cache": {"exact": {"enabled": True}},
    "routing": {"policies": {"auto": {"strong": "gpt-4o", "weak": "gpt-4o-mini"}},
                "tasks": {"simple_qa": "gpt-4o-mini", "complex_reasoning": "gpt-4o"},
                "apply_to": ["gpt-4o"], "classify_tasks": False},
}


def line(rid: str, at: float, key: Any, *, model: str = "gpt-4.1", messages: Any = None,
         **extra: Any) -> dict[str, Any]:
    return {"id": rid, "at_s": at, "wire": "openai", "model": model,
            "messages": messages or [{"role": "user", "content": f"Question {rid}?"}],
            "max_tokens": 200, "key": key, **extra}


def labels(**models: bool) -> dict[str, Any]:
    return {"kind": "labels", "labels": {m.replace("_", "-").replace("4-o", "4o"): v
                                         for m, v in models.items()}}


TRACE = [
    line("fresh", 0, {"kind": "class", "class": "c1"}, messages=CAPITAL),
    line("repeat", 10, {"kind": "class", "class": "c1"}, messages=CAPITAL),  # hit, same class
    line("other-class", 20, {"kind": "class", "class": "c2"}, messages=CAPITAL),  # hit, wrong
    line("routed-wrong", 30, {"kind": "labels", "labels": {"gpt-4o": True, "gpt-4o-mini": False}},
         model="gpt-4o", attribution={"task": "simple_qa"}),
    line("routed-right", 40, {"kind": "labels", "labels": {"gpt-4o": True, "gpt-4o-mini": True}},
         model="gpt-4o", attribution={"task": "simple_qa"}),
    line("kept-strong", 50, {"kind": "labels", "labels": {"gpt-4o": True}}, model="gpt-4o",
         attribution={"task": "complex_reasoning"}),
    {**line("claude-stream", 60, {"kind": "labels", "labels": {"claude-haiku-4-5": True}},
            model="claude-haiku-4-5", stream=True,
            messages=[{"role": "system", "content": "Be brief."},
                      {"role": "user", "content": "Name a prime."}]), "wire": "anthropic"},
    line("answer-in-prompt", 70, [{"kind": "answers", "answers": ["July 1969", "1969"]},
                                  {"kind": "labels", "labels": {"gpt-4.1": True}}],
         messages=[{"role": "user", "content": "Apollo 11 landed in July 1969. When?"}]),
    line("answer-missing", 80, {"kind": "answers", "answers": ["Armstrong"]},
         messages=[{"role": "user", "content": "Who walked first on the Moon?"}], stream=True),
]


@pytest.fixture(scope="module")
def trace_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("trace") / "trace.jsonl"
    path.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in TRACE))
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, trace_file: Path
         ) -> tuple[RunResult, RunResult, RunResult]:
    root = tmp_path_factory.mktemp("runs")
    trace = read_trace(trace_file)
    baseline = run_once(trace, POLICY, root / "baseline", levers_on=False, speed=0)
    first = run_once(trace, POLICY, root / "first", levers_on=True, speed=0)
    second = run_once(trace, POLICY, root / "second", levers_on=True, speed=0)
    return baseline, first, second


def verdicts(run: RunResult) -> dict[str, bool]:
    return {a.request.id: correct(a.request, a.served) for a in run.answered}


def test_baseline_judges_every_key_kind_against_the_trace(runs: Any) -> None:
    baseline, _, _ = runs
    assert all(a.sent.status == 200 and a.served.tag for a in baseline.answered)
    assert verdicts(baseline) == {rid: rid != "answer-missing" for rid in verdicts(baseline)}
    assert {a.served.model for a in baseline.answered} == {"gpt-4.1", "gpt-4o",
                                                           "claude-haiku-4-5"}


def test_policy_run_answers_are_judged_and_blamed_on_the_lever(runs: Any) -> None:
    baseline, run, _ = runs
    got = verdicts(run)
    assert got["repeat"] and not got["other-class"]  # a hit is right only in its class
    assert not got["routed-wrong"] and got["routed-right"]
    assert got["kept-strong"] and got["claude-stream"] and got["answer-in-prompt"]
    statuses = {a.request.id: a.served.cache_status for a in run.answered}
    assert statuses["repeat"] == statuses["other-class"] == "exact"
    result = summary(baseline, run)
    assert result["n"] == len(TRACE)
    assert result["baseline_quality"] == round(8 / 9, 6)
    assert result["quality"] == round(6 / 9, 6)
    assert result["quality_retained"] == round((6 / 9) / (8 / 9), 6)
    assert result["by_lever"]["exact_cache"]["requests"] == 2
    assert result["by_lever"]["exact_cache"]["quality_lost"] == round(1 / 9, 6)
    assert result["by_lever"]["routing"]["requests"] == 2
    assert result["by_lever"]["routing"]["quality_lost"] == round(1 / 9, 6)
    assert "unattributed" not in result["by_lever"]
    assert 0 < result["cost_usd"] < result["baseline_cost_usd"]
    # The ledger prices a routed request's baseline on the weak model's usage; the
    # baseline run measured the strong model's own answer, so the two differ a little.
    assert result["by_lever"]["exact_cache"]["saved_usd"] > 0
    assert result["by_lever"]["routing"]["saved_usd"] > 0


def test_a_replay_is_deterministic(runs: Any) -> None:
    baseline, first, second = runs
    one, two = summary(baseline, first), summary(baseline, second)
    one.pop("p50_overhead_ms"), two.pop("p50_overhead_ms")
    assert one == two
    assert [a.served.tag for a in first.answered] == [a.served.tag for a in second.answered]


def test_no_levers_costs_the_baseline_and_keeps_its_quality_exactly(trace_file: Path,
                                                                   tmp_path: Path) -> None:
    policy = tmp_path / "none.yaml"
    policy.write_text(yaml.safe_dump({"pricing": {}}))
    result = CliRunner().invoke(cli, ["bench", "replay", str(trace_file), "--config",
                                      str(policy), "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert list(report) == ["n", "baseline_cost_usd", "cost_usd", "saving_pct",
                            "baseline_quality", "quality", "quality_retained", "by_lever",
                            "by_kind", "p50_overhead_ms"]
    assert report["cost_usd"] == report["baseline_cost_usd"] > 0
    assert report["quality"] == report["baseline_quality"] == round(8 / 9, 6)
    assert report["quality_retained"] == 1.0 and report["saving_pct"] == 0.0
    assert report["by_lever"] == {}
    assert report["by_kind"]["class"]["requests"] == 3


def test_demo_replay_prints_the_bench_report_for_the_dev_trace() -> None:
    result = CliRunner().invoke(cli, ["demo", "--replay", "-n", "12", "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n"] == 12 and report["baseline_cost_usd"] > 0
    assert set(report["by_kind"]) <= {"labels+class", "answers+class"}


TOPICS = ("budget", "roads", "libraries", "harbour", "schools", "markets", "bridges",
          "parks", "water", "gardens", "housing", "transport", "archives", "festivals")


def qa_line(rid: str, at: float, question: str, answer: str) -> dict[str, Any]:
    passages = [f"Document [{i}] (Title: Council minutes on {topic}) The council debated "
                f"{topic} spending for district {i} and agreed on {topic} repairs in spring. "
                f"Residents asked for better {topic} services near the station."
                for i, topic in enumerate(TOPICS)]
    passages.insert(3, "Document [x] (Title: Lighthouse) The old lighthouse keeper was "
                       "Margarethe Olsen, who kept the light burning for forty years.")
    context = "\n\n".join(passages)
    return line(rid, at, {"kind": "answers", "answers": [answer]}, messages=[
        {"role": "user", "content": f"Answer from the documents.\n\n{context}\n\n"
                                    f"Question: {question}\nAnswer:"}])


def test_a_compression_that_drops_every_answer_string_is_blamed(tmp_path: Path) -> None:
    trace = read_trace(_write(tmp_path / "qa.jsonl", [
        # The answer sits in the passage the question is about: compression keeps it.
        qa_line("kept", 0, "Who was the old lighthouse keeper?", "Margarethe Olsen"),
        # The "answer" sits in a passage the question is not about: compression drops it.
        qa_line("dropped", 10, "Who was the old lighthouse keeper?",
                "roads spending for district 1 and"),
    ]))
    policy = {"compression": {"enabled": True, "target_ratio": 0.1, "min_tokens": 200}}
    baseline = run_once(trace, policy, tmp_path / "b", levers_on=False, speed=0)
    run = run_once(trace, policy, tmp_path / "p", levers_on=True, speed=0)
    assert verdicts(baseline) == {"kept": True, "dropped": True}
    assert verdicts(run) == {"kept": True, "dropped": False}
    result = summary(baseline, run)
    assert result["by_lever"]["compression"]["quality_lost"] == 0.5
    assert result["by_lever"]["compression"]["saved_usd"] > 0


def _write(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))
    return path

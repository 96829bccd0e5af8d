"""``bench make-trace`` on a small hand-made data folder shaped like ../shared/data."""

from __future__ import annotations

import csv
import gzip
import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from tokenthrift.bench.make_trace import Mix, TraceSpec, build_trace, split_mmlu
from tokenthrift.bench.trace import AnswersKey, ClassKey, LabelsKey, read_trace
from tokenthrift.cli.main import cli

HELD_OUT = "astronomy"  # not among the shipped router's training domains


def make_data(root: Path) -> Path:
    mmlu = root / "routing" / "mmlu"
    mmlu.mkdir(parents=True)
    for domain in (HELD_OUT, "anatomy"):  # anatomy is a training domain: never used
        with (mmlu / f"mmlu_{domain}.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["prompt", "mistralai/Mixtral-8x7B-Instruct-v0.1",
                             "gpt-4-1106-preview"])
            for i in range(300):
                prompt = (f"{domain} question {i}: which value is {i}?\nA. {i}\nB. {i + 1}\n"
                          f"C. {i + 2}\nD. {i + 3}\nAnswer:")
                writer.writerow([prompt, str(i % 3 == 0), str(i % 5 != 0)])
    (root / "compression").mkdir()
    with gzip.open(root / "compression" / "nq_open_oracle_dev.jsonl.gz", "wt") as handle:
        for i in range(200):
            handle.write(json.dumps({
                "question": f"who founded town {i}", "answers": [f"Founder{i}"],
                "ctxs": [{"title": f"Town {i}", "text": f"Town {i} was founded by Founder{i} "
                          f"in the year {1000 + i}. " * 3, "hasanswer": True,
                          "isgold": True}]}) + "\n")
    return root


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_data(tmp_path_factory.mktemp("data"))


def test_proportions_and_keys_follow_the_mix(data: Path) -> None:
    mix = Mix(exact_repeat=0.2, paraphrase=0.1, hard_negative=0.05, qa=0.3, deferrable=0.1,
              anthropic=0.25, long_system=0.4, passages=4, hours=2)
    trace, facts = build_trace(data, TraceSpec(requests=1000, seed=3, mix=mix))
    assert len(trace) == 1000
    variants = facts["by_variant"]
    assert 150 <= variants["exact_repeat"] <= 250 and 60 <= variants["paraphrase"] <= 140
    assert 20 <= variants["hard_negative"] <= 80
    assert facts["span_hours"] <= 2
    assert [r.at_s for r in trace] == sorted(r.at_s for r in trace)
    for request in trace:
        kinds = {type(k) for k in request.keys}
        assert ClassKey in kinds and (LabelsKey in kinds or AnswersKey in kinds)
        assert request.model == ("claude-sonnet-4-5" if request.wire == "anthropic" else "gpt-4o")
        text = request.messages[-1]["content"]
        assert "anatomy" not in text  # the router's training domains stay out
        for key in request.keys:
            if isinstance(key, AnswersKey) and "Question: who founded" in text:
                assert any(a in text for a in key.answers)  # the gold passage is there
    assert 0.2 <= facts["anthropic"] / 1000 <= 0.3
    assert 0.3 <= facts["long_system_prompt"] / 1000 <= 0.5


def test_repeats_paraphrases_and_hard_negatives_keep_or_change_the_class(data: Path) -> None:
    trace, _ = build_trace(data, TraceSpec(requests=600, seed=5, mix=Mix(passages=3)))
    by_class: dict[str, list[str]] = {}
    for request in trace:
        name = next(k.name for k in request.keys if isinstance(k, ClassKey))
        by_class.setdefault(name, []).append(request.messages[-1]["content"])
    repeated = [texts for texts in by_class.values() if len(texts) > 1]
    assert any(len(set(texts)) == 1 for texts in repeated)  # exact repeats
    assert any(len(set(texts)) > 1 for texts in repeated)  # reworded, same class
    reordered = [name for name in by_class if name.endswith("-reordered")]
    assert reordered  # hard negatives: the same options in another order are another class
    original = by_class[reordered[0].removesuffix("-reordered")][0]
    negative = by_class[reordered[0]][0]
    assert split_mmlu(original)[0] == split_mmlu(negative)[0]
    assert split_mmlu(original)[1] != split_mmlu(negative)[1]


def test_the_same_seed_writes_the_same_bytes_and_qqp_is_opt_in(data: Path,
                                                               tmp_path: Path) -> None:
    runner = CliRunner()
    outs = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}.jsonl.gz"
        result = runner.invoke(cli, ["bench", "make-trace", "--data", str(data), "--out",
                                     str(out), "-n", "300", "--seed", "9",
                                     "--mix", "passages=3"])
        assert result.exit_code == 0, result.output
        outs.append(out.read_bytes())
        assert "qqp" not in result.output.lower()
    assert outs[0] == outs[1]
    assert len(read_trace(tmp_path / "a.jsonl.gz")) == 300
    bad = runner.invoke(cli, ["bench", "make-trace", "--data", str(data), "--out",
                              str(tmp_path / "c.jsonl"), "--mix", "colour=1"])
    assert bad.exit_code != 0 and "NAME=VALUE" in bad.output
    counts = Counter(r.kind for r in read_trace(tmp_path / "a.jsonl.gz"))
    assert set(counts) == {"labels+class", "answers+class"}

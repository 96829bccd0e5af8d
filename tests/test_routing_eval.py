"""`router eval` numbers on tiny hand-made data, checked against arithmetic done by hand,
and the data loading rules (score columns, contamination files next to the data)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tokenthrift.cli.main import cli
from tokenthrift.levers.routing.data import RoutingDataError, load_labelled
from tokenthrift.levers.routing.evaluation import Price, evaluate

# Four prompts. strong = 3/4, weak = 1/4, so the weak→strong gap is 0.5.
#   prompt  strong weak  router P(weak ok)   length
#   a       1      0     0.1                 1
#   bbbb    1      1     0.8                 4
#   ccc     0      0     0.9                 3
#   dd      1      0     0.2                 2
ROWS = [("a", "true", "false"), ("bbbb", "1", "1"), ("ccc", "0", "0"), ("dd", "1", "0")]
P_OK = np.array([0.1, 0.8, 0.9, 0.2])


def write_csv(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    lines = ["prompt,gpt,mini"] + [",".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "tiny.csv", ROWS)


def test_eval_numbers_match_hand_arithmetic(tiny: Path) -> None:
    data = load_labelled(tiny, "prompt", "gpt", "mini")
    # Input priced at 0 and 1000 output tokens: a strong call costs 0.03, a weak 0.001.
    result = evaluate(data, P_OK, strong_price=Price(0, 30), weak_price=Price(0, 1), output_tokens=1000)
    assert result["n"] == 4
    assert result["strong_score"] == 0.75 and result["weak_score"] == 0.25
    # Router order a, dd, bbbb, ccc; quality 0.25, 0.5, 0.75, 0.75, 0.75 at 0..100% strong;
    # PGR 0, .5, 1, 1, 1 → area .25 * (.25 + .75 + 1 + 1) = 0.75.
    assert result["apgr"] == pytest.approx(0.75)
    assert result["cpt50"] == pytest.approx(0.25)  # quality 0.5 reached after one call
    assert result["cpt80"] == pytest.approx(0.40)  # 0.65: 60% into the second step
    # 95% of strong = 0.7125: 85% into the second step → 0.4625 of calls, i.e. 1.85 strong
    # calls: cost 0.004 + 1.85 x 0.029 = 0.05765 against 0.12 strong-only.
    assert result["strong_share_at_95"] == pytest.approx(0.4625)
    assert result["cost_saving_at_95"] == pytest.approx(1 - 0.05765 / 0.12, abs=1e-4)
    random = result["baselines"]["random"]
    assert random["apgr"] == 0.5 and random["cpt50"] == 0.5 and random["cpt80"] == 0.8
    assert random["strong_share_at_95"] == pytest.approx(0.925)
    assert random["cost_saving_at_95"] == pytest.approx(1 - (0.004 + 0.925 * 4 * 0.029) / 0.12, abs=1e-4)
    # Length order bbbb, ccc, dd, a: PGR 0, 0, 0, .5, 1 → .25 * (.25 + .75) = 0.25.
    length = result["baselines"]["length"]
    assert length["apgr"] == pytest.approx(0.25)
    assert length["cpt50"] == pytest.approx(0.75)
    assert length["strong_share_at_95"] == pytest.approx(0.9625)


def test_eval_json_has_exactly_the_documented_fields(tiny: Path, tmp_path: Path) -> None:
    out = CliRunner().invoke(cli, [
        "router", "eval", "--data", str(tiny), "--prompt-col", "prompt", "--strong-col", "gpt",
        "--weak-col", "mini", "--strong-price", "10/30", "--weak-price", "0.6/0.6", "--format", "json",
    ])
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    assert set(result) == {"n", "strong_score", "weak_score", "apgr", "cpt50", "cpt80",
                           "strong_share_at_95", "cost_saving_at_95", "baselines"}
    assert set(result["baselines"]) == {"random", "length"}
    assert set(result["baselines"]["length"]) == {"apgr", "cpt50", "cpt80", "strong_share_at_95",
                                                  "cost_saving_at_95"}
    assert 0 < result["cost_saving_at_95"] < 1


def test_tied_scores_are_one_step_not_an_order(tiny: Path) -> None:
    data = load_labelled(tiny, "prompt", "gpt", "mini")
    # A router that cannot tell prompts apart is random routing, whatever the row order.
    result = evaluate(data, np.full(4, 0.5))
    assert result["apgr"] == pytest.approx(0.5)
    assert result["cost_saving_at_95"] is None  # no prices given, columns not in the catalog


def test_fractional_scores_and_bad_values(tmp_path: Path) -> None:
    data = load_labelled(write_csv(tmp_path / "s.csv", [("x", "0.9", "0.3"), ("y", "yes", "no")]),
                         "prompt", "gpt", "mini")
    assert data.strong.tolist() == [0.9, 1.0] and data.weak.tolist() == [0.3, 0.0]
    with pytest.raises(RoutingDataError, match=r"bad.csv:2 gpt: score 7.0 is outside \[0, 1\]"):
        load_labelled(write_csv(tmp_path / "bad.csv", [("x", "7", "1")]), "prompt", "gpt", "mini")
    with pytest.raises(RoutingDataError, match="no column 'nope'"):
        load_labelled(tmp_path / "s.csv", "prompt", "nope", "mini")


def test_contaminated_prompts_next_to_the_data_are_dropped(tmp_path: Path) -> None:
    folder = tmp_path / "mmlu"
    folder.mkdir()
    write_csv(folder / "mmlu_one.csv", ROWS[:2])
    write_csv(folder / "mmlu_two.csv", ROWS[2:])
    # RouteLLM's layout: routing/mmlu/ beside routing/mmlu_contaminated_prompts.jsonl.
    (tmp_path / "mmlu_contaminated_prompts.jsonl").write_text(
        json.dumps({"train_prompt": "a ", "eval_prompt": "a"}) + "\n"
    )
    data = load_labelled(folder, "prompt", "gpt", "mini")
    assert data.prompts == ["bbbb", "ccc", "dd"]
    assert data.dropped_contaminated == 1
    assert data.groups == ["mmlu_one", "mmlu_two", "mmlu_two"]
    # A single file of the folder finds the same list; a file in the folder itself too.
    assert load_labelled(folder / "mmlu_one.csv", "prompt", "gpt", "mini").prompts == ["bbbb"]
    (folder / "contaminated_prompts.jsonl").write_text(json.dumps({"eval_prompt": "dd"}) + "\n")
    assert load_labelled(folder, "prompt", "gpt", "mini").prompts == ["bbbb", "ccc"]

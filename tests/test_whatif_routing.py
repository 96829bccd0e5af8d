"""``tokenthrift whatif`` with routing policies decided on stored prompts
(``storage.prompts: full``): the same policy reproduces what was recorded, a higher
quality target never sends fewer rows to the strong model, and a policy that sends
everything to the weak model projects the weak model's prices."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import tokenthrift
from tokenthrift.cli.main import cli
from tokenthrift.config import parse_config
from tokenthrift.levers.routing.router import ComplexityRouter

STRONG, WEAK = "gpt-4o", "gpt-4o-mini"
PROMPTS = [
    "hi", "What is 2+2?", "Translate hello to French", "capital of France?",
    "Summarize this: the cat sat on the mat.", "Is this review positive? 'Great phone.'",
    "Prove that there are infinitely many primes, step by step.",
    "Write a Python function implementing a red-black tree with insertion and deletion.",
    "Derive the Euler-Lagrange equations for a double pendulum and solve them numerically.",
    "Explain the CAP theorem and its consequences for a multi-region database design.",
    "List three fruits.", "Fix the bug: for i in range(10) print(i)",
    "Compare the economic policies of Keynes and Hayek with historical examples.",
    "What time zone is Tokyo in?", "Design a rate limiter for a distributed API gateway.",
    "Spell 'necessary'.",
]
UNSTORED = 5  # rows recorded without prompt storage
CLASSIFIED = range(0, len(PROMPTS), 4)  # rows recorded with task "classification"
RECORDED_TARGET = 0.85


def _router(path: Path) -> Path:
    """The built-in router with thresholds spread over these prompts' probabilities, so
    quality targets split them (the built-in calibration sends all of them one way)."""
    router = ComplexityRouter.default()
    ps = sorted(router.probability(p) for p in PROMPTS)
    n = len(ps)
    router.calibration = [(0.5, 0.0), (0.7, ps[n // 4]), (RECORDED_TARGET, ps[n // 2]),
                          (0.95, ps[3 * n // 4]), (0.99, ps[-1] + 1e-3)]
    router.save(path)
    return path


def _routing(router: Path, target: float, **extra: Any) -> dict[str, Any]:
    return {"policies": {"auto": {"strong": STRONG, "weak": WEAK, "quality_target": target}},
            "apply_to": [STRONG], "router": str(router), **extra}


async def _record(db: Path, router: Path) -> None:
    storage = {"ledger": f"sqlite:///{db}", "prompts": "full"}
    routed = parse_config({"storage": storage, "cache": {"exact": False},
                           "routing": _routing(router, RECORDED_TARGET, classify_tasks=False)})
    plain = parse_config({"storage": {**storage, "prompts": "hash"}, "cache": {"exact": False}})
    for config, prompts in ((routed, PROMPTS), (plain, PROMPTS[:UNSTORED])):
        gateway = tokenthrift.build_gateway(config)
        try:
            for i, prompt in enumerate(prompts):
                body = {"model": STRONG, "max_tokens": 32 + 8 * (i % 4),
                        "messages": [{"role": "user", "content": prompt}]}
                task = "classification" if i in CLASSIFIED else None
                await gateway.complete(tokenthrift.openai_chat.parse_request(body),
                                       tokenthrift.Attribution(team="t", task=task))
            gateway.writer.flush()
        finally:
            await gateway.aclose()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("whatif_routing")
    router = _router(tmp / "router.json")
    asyncio.run(_record(tmp / "ledger.db", router))
    return tmp / "ledger.db", router


def _whatif(db: Path, tmp: Path, policy: dict[str, Any]) -> dict[str, Any]:
    path = tmp / "policy.yaml"
    path.write_text(json.dumps(policy))  # JSON is YAML
    result = CliRunner().invoke(cli, ["whatif", "--since", "30d", "--policy", str(path),
                                      "--ledger", str(db), "--format", "json"])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.output, parse_float=Decimal))


def test_the_recorded_routing_policy_projects_the_recorded_cost(
        recorded: tuple[Path, Path], tmp_path: Path) -> None:
    db, router = recorded
    out = _whatif(db, tmp_path, {"routing": _routing(router, RECORDED_TARGET)})
    assert out["requests"] == len(PROMPTS) + UNSTORED
    routing = out["routing"]
    assert routing["decided_on_stored_prompts"] == len(PROMPTS)
    assert set(routing["to_model"]) == {STRONG, WEAK}  # the recording really routed
    # every decision replayed is the one the gateway made: nothing moves
    assert out["requests_affected"]["routing"] == 0 and out["saving_by_lever"]["routing"] == 0
    recorded_usd = out["recorded_cost_usd"]
    assert recorded_usd > 0
    assert abs(out["projected_cost_usd"] - recorded_usd) <= recorded_usd * Decimal("0.01")
    # the rows without a stored prompt are counted, and said so
    assert routing["without_stored_prompt"] == UNSTORED
    assert any(c.startswith(f"{UNSTORED} requests a routing policy") for c in out["caveats"])


def test_a_higher_quality_target_never_moves_fewer_rows_to_the_strong_model(
        recorded: tuple[Path, Path], tmp_path: Path) -> None:
    db, router = recorded
    strong = []
    for target in (0.5, 0.6, 0.7, 0.8, RECORDED_TARGET, 0.9, 0.95, 0.99, 1.0):
        out = _whatif(db, tmp_path, {"routing": _routing(router, target)})
        counts = out["routing"]["to_model"]
        assert sum(counts.values()) == len(PROMPTS)
        strong.append(counts.get(STRONG, 0))
    assert strong[0] == 0 and strong[-1] == len(PROMPTS)  # the ends: all weak, all strong
    assert any(0 < n < len(PROMPTS) for n in strong)  # and the router splits in between
    assert strong == sorted(strong)


def test_everything_to_the_weak_model_projects_the_weak_models_prices(
        recorded: tuple[Path, Path], tmp_path: Path) -> None:
    db, router = recorded
    mapped = _whatif(db, tmp_path, {"routing": {"map": {STRONG: WEAK}}})
    weak = _whatif(db, tmp_path, {"routing": {**_routing(router, 0.5), "map": {STRONG: WEAK}}})
    assert weak["routing"]["to_model"] == {WEAK: len(PROMPTS)}
    # the same usage on the weak model, whichever way the rows got there
    assert weak["projected_cost_usd"] == mapped["projected_cost_usd"]
    assert weak["projected_cost_usd"] < weak["recorded_cost_usd"]
    assert weak["saving_by_lever"]["routing"] > 0
    # a task rule decides before the router (which, at target 1.0, sends all to strong)
    ruled = _whatif(db, tmp_path, {"routing": _routing(
        router, 1.0, tasks={"classification": WEAK})})
    assert ruled["routing"]["to_model"] == {WEAK: len(CLASSIFIED),
                                            STRONG: len(PROMPTS) - len(CLASSIFIED)}


def test_routing_keys_without_policies_are_refused(recorded: tuple[Path, Path],
                                                   tmp_path: Path) -> None:
    db, _ = recorded
    path = tmp_path / "bad.yaml"
    path.write_text("routing: {tasks: {classification: gpt-4o-mini}}\n")
    result = CliRunner().invoke(cli, ["whatif", "--policy", str(path), "--ledger", str(db)])
    assert result.exit_code != 0 and "routing.tasks" in result.output

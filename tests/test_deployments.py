"""Several deployments of one model name: a pool balanced by weight or by least in-flight
requests, cooldowns for a deployment that keeps failing (then one probe), and a request
that is never refused only because everything is cooling down.

Clocks and random draws are injected; nothing here depends on wall-clock time."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from gateway_harness import config_for, running_gateway
from tokenthrift.assembly import build_transports
from tokenthrift.config import ConfigError, GatewayConfig, parse_config
from tokenthrift.emulator import Fault
from tokenthrift.errors import GatewayError, UpstreamError
from tokenthrift.exchange import Exchange
from tokenthrift.pipeline.deployments import Deployments
from tokenthrift.pipeline.dispatch import Dispatcher
from tokenthrift.providers.base import Provider
from tokenthrift.providers.registry import ProviderSet
from tokenthrift.routes import Candidate, route_candidates
from tokenthrift.types import Attribution

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PROVIDERS = {"a": {"type": "emulator"}, "b": {"type": "emulator"}, "c": {"type": "emulator"}}


def _config(models: list[dict[str, Any]], **top: Any) -> GatewayConfig:
    return parse_config({"providers": PROVIDERS, "models": models,
                         "retry": {"max_retries": 0}, **top})


POOL: list[dict[str, Any]] = [{"name": "gpt-4o", "provider": "a", "weight": 3, "fallbacks": ["gpt-4o-mini"]},
        {"name": "gpt-4o", "provider": "b", "weight": 1},
        {"name": "gpt-4o-mini", "provider": "c"}]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _providers(chain: list[Candidate]) -> list[str]:
    return [c.provider_name for c in chain]


# -- config --------------------------------------------------------------------------


def test_entries_sharing_a_name_are_one_pool_followed_by_their_fallbacks() -> None:
    chain = route_candidates(_config(POOL), "gpt-4o")
    assert [(c.provider_name, c.upstream_model, c.pool) for c in chain] == [
        ("a", "gpt-4o", "gpt-4o"), ("b", "gpt-4o", "gpt-4o"), ("c", "gpt-4o-mini", "gpt-4o-mini")]
    assert [c.route.weight for c in chain] == [3, 1, 1]


@pytest.mark.parametrize(("models", "top", "message"), [
    ([{"name": "m", "provider": "a", "weight": 0}], {}, "models[0].weight"),
    ([{"name": "m", "provider": "a", "weight": "heavy"}], {}, "models[0].weight"),
    ([{"name": "m", "provider": "a"}, {"name": "m", "provider": "a"}], {},
     "models[1]: the same deployment as models[0]"),
    ([{"name": "m", "provider": "a", "routing_strategy": "least_busy"},
      {"name": "m", "provider": "b", "routing_strategy": "weighted"}], {},
     "models[1].routing_strategy"),
    ([{"name": "m", "provider": "a", "routing_strategy": "fastest"}], {},
     "models[0].routing_strategy"),
    ([{"name": "m", "provider": "a"}], {"routing_strategy": "round_robin"}, "routing_strategy"),
    ([{"name": "m", "provider": "a"}], {"cooldown": {"failures": 0}}, "cooldown.failures"),
    ([{"name": "m", "provider": "a"}], {"cooldown": {"perod_s": 5}}, "did you mean 'period_s'"),
])
def test_a_bad_pool_or_cooldown_setting_names_its_key(models: list[dict[str, Any]],
                                                      top: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        _config(models, **top)


def test_cooldown_is_off_unless_configured_and_durations_read_as_such() -> None:
    assert not _config(POOL).cooldown.enabled
    assert _config(POOL, cooldown=True).cooldown.enabled
    on = _config(POOL, cooldown={"failures": 2, "window_s": "1m", "period_s": "10s"}).cooldown
    assert (on.enabled, on.failures, on.window_s, on.period_s) == (True, 2, 60.0, 10.0)
    assert _config(POOL, routing_strategy="least_busy").routing_strategy == "least_busy"


# -- balancing -----------------------------------------------------------------------


def test_weighted_balancing_follows_the_weights_and_keeps_the_fallback_last() -> None:
    config = _config(POOL)
    deployments = Deployments(config, rng=random.Random(7))
    chain = route_candidates(config, "gpt-4o")
    firsts: Counter[str] = Counter()
    for _ in range(4000):
        order = deployments.order(chain)
        assert sorted(_providers(order[:2])) == ["a", "b"] and order[2].provider_name == "c"
        firsts[order[0].provider_name] += 1
    assert 0.72 < firsts["a"] / 4000 < 0.78  # weight 3 of 4


def test_a_name_with_one_deployment_keeps_the_config_order() -> None:
    config = _config([{"name": "x", "provider": "a", "fallbacks": ["y"]},
                      {"name": "y", "provider": "b"}])
    chain = route_candidates(config, "x")
    assert Deployments(config).order(chain) is chain  # nothing to decide: no work done


def test_least_busy_sends_to_the_deployment_with_fewest_requests_in_flight() -> None:
    config = _config(POOL, routing_strategy="least_busy")
    deployments = Deployments(config, rng=random.Random(1))
    a, b, _ = route_candidates(config, "gpt-4o")
    deployments.started(a)
    deployments.started(a)
    deployments.started(b)
    assert [_providers(deployments.order([a, b]))[0] for _ in range(50)] == ["b"] * 50
    deployments.done(a)
    deployments.done(a)  # now a: 0, b: 1
    assert [_providers(deployments.order([a, b]))[0] for _ in range(50)] == ["a"] * 50
    assert deployments.in_flight(a) == 0 and deployments.in_flight(b) == 1


def test_a_per_model_strategy_overrides_the_global_one() -> None:
    models = [{**POOL[0], "routing_strategy": "least_busy"}, POOL[1], POOL[2]]
    config = _config(models)
    deployments = Deployments(config, rng=random.Random(3))
    a, b, _ = route_candidates(config, "gpt-4o")
    deployments.started(a)
    assert {_providers(deployments.order([a, b]))[0] for _ in range(50)} == {"b"}


# -- cooldowns -----------------------------------------------------------------------


def _cooling_setup(**cooldown: Any) -> tuple[Deployments, Clock, list[Candidate]]:
    config = _config([{"name": "x", "provider": "a", "fallbacks": ["y"]},
                      {"name": "y", "provider": "b"}],
                     cooldown={"failures": 3, "window_s": 60, "period_s": 30, **cooldown})
    clock = Clock()
    return Deployments(config, clock=clock), clock, route_candidates(config, "x")


def _fail(deployments: Deployments, candidate: Candidate) -> None:
    probe = deployments.started(candidate)
    deployments.record(candidate, probe=probe, failed=True)
    deployments.done(candidate)


def test_a_deployment_that_keeps_failing_goes_last_then_one_probe_reopens_it() -> None:
    deployments, clock, chain = _cooling_setup()
    x = chain[0]
    for _ in range(2):
        _fail(deployments, x)
    assert _providers(deployments.order(chain)) == ["a", "b"]  # 2 failures: still first
    _fail(deployments, x)
    assert deployments.state(x) == "cooling"
    assert _providers(deployments.order(chain)) == ["b", "a"]  # moved, not dropped
    clock.now += 29.9
    assert _providers(deployments.order(chain)) == ["b", "a"]
    clock.now += 0.2
    assert _providers(deployments.order(chain)) == ["a", "b"]  # period over: ready for a probe
    assert deployments.started(x) is True  # this request is the probe...
    assert deployments.state(x) == "probing"
    assert _providers(deployments.order(chain)) == ["b", "a"]  # ...others keep away meanwhile
    assert deployments.started(x) is False  # a second request tried anyway is no probe
    deployments.record(x, probe=False, failed=None)
    deployments.done(x)
    deployments.record(x, probe=True, failed=False)
    deployments.done(x)
    assert deployments.state(x) == "ok"
    assert _providers(deployments.order(chain)) == ["a", "b"]


def test_a_failed_probe_starts_another_period() -> None:
    deployments, clock, chain = _cooling_setup()
    x, _ = chain
    for _ in range(3):
        _fail(deployments, x)
    clock.now += 31
    _fail(deployments, x)  # the probe
    assert deployments.state(x) == "cooling"
    clock.now += 29
    assert _providers(deployments.order(chain)) == ["b", "a"]
    clock.now += 2
    assert deployments.state(x) == "ready"


def test_a_probe_that_ends_without_a_verdict_lets_the_next_request_probe() -> None:
    deployments, clock, chain = _cooling_setup()
    x, _ = chain
    for _ in range(3):
        _fail(deployments, x)
    clock.now += 31
    assert deployments.started(x) is True
    deployments.record(x, probe=True, failed=None)  # e.g. the client went away
    deployments.done(x)
    assert deployments.state(x) == "ready" and deployments.started(x) is True


def test_failures_outside_the_window_do_not_add_up() -> None:
    deployments, clock, chain = _cooling_setup()
    x, _ = chain
    _fail(deployments, x)
    _fail(deployments, x)
    clock.now += 61
    _fail(deployments, x)
    assert deployments.state(x) == "ok"
    _fail(deployments, x)
    _fail(deployments, x)
    assert deployments.state(x) == "cooling"


def test_without_a_cooldown_section_failures_never_reorder() -> None:
    config = _config([{"name": "x", "provider": "a", "fallbacks": ["y"]},
                      {"name": "y", "provider": "b"}])
    deployments = Deployments(config)
    chain = route_candidates(config, "x")
    for _ in range(10):
        _fail(deployments, chain[0])
    assert deployments.order(chain) is chain and deployments.state(chain[0]) == "ok"


# -- dispatch ------------------------------------------------------------------------


class Upstream:
    """A scripted upstream: a provider name fails with its status until told otherwise."""

    def __init__(self, failing: dict[str, int] | None = None) -> None:
        self.failing = dict(failing or {})
        self.calls: list[str] = []

    async def __call__(self, provider: Provider, model: str, timeout: float) -> str:
        self.calls.append(provider.name)
        status = self.failing.get(provider.name)
        if status is not None:
            raise UpstreamError(f"scripted {status}", status=status)
        return f"answer from {provider.name}"


def _dispatcher(config: GatewayConfig, clock: Clock | None = None,
                rng: random.Random | None = None) -> Dispatcher:
    transports, emulator = build_transports(config)
    providers = ProviderSet(config, transports, emulator=emulator)
    deployments = Deployments(config, clock=clock or Clock(), rng=rng or random.Random(5))
    return Dispatcher(config, providers, deployments=deployments)


def _exchange(config: GatewayConfig, model: str) -> Exchange:
    exchange = Exchange(request=None, attribution=Attribution(), requested_model=model,
                        wire_format="openai", endpoint="chat.completions")
    exchange.candidates = route_candidates(config, model)
    return exchange


def test_another_deployment_of_the_model_is_not_a_fallback_but_another_model_is() -> None:
    config = _config(POOL)
    dispatcher = _dispatcher(config)
    upstream = Upstream({"a": 500})
    served_by_b = 0
    for _ in range(20):
        exchange = _exchange(config, "gpt-4o")
        assert asyncio.run(dispatcher.run(exchange, upstream)) == "answer from b"
        assert exchange.provider == "b" and exchange.served_model == "gpt-4o"
        assert not exchange.fallback_used
        served_by_b += 1
    assert served_by_b == 20 and set(upstream.calls) == {"a", "b"}  # a tried, then b
    upstream.failing["b"] = 503
    exchange = _exchange(config, "gpt-4o")
    assert asyncio.run(dispatcher.run(exchange, upstream)) == "answer from c"
    assert exchange.fallback_used and exchange.served_model == "gpt-4o-mini"


def test_a_cooling_deployment_is_not_tried_while_another_can_answer() -> None:
    config = _config(POOL, cooldown={"failures": 2, "period_s": 30})
    clock = Clock()
    dispatcher = _dispatcher(config, clock)
    upstream = Upstream({"a": 429})
    while upstream.calls.count("a") < 2:
        asyncio.run(dispatcher.run(_exchange(config, "gpt-4o"), upstream))
    upstream.calls.clear()
    for _ in range(20):
        assert asyncio.run(dispatcher.run(_exchange(config, "gpt-4o"), upstream)) == "answer from b"
    assert upstream.calls == ["b"] * 20  # a cooled down: no attempt wasted on it
    clock.now += 31
    del upstream.failing["a"]
    while "a" not in upstream.calls:  # the probe goes through and succeeds...
        asyncio.run(dispatcher.run(_exchange(config, "gpt-4o"), upstream))
    assert dispatcher.deployments.state(_exchange(config, "gpt-4o").candidates[0]) == "ok"


def test_when_everything_is_cooling_the_request_is_still_tried() -> None:
    config = _config([{"name": "x", "provider": "a", "fallbacks": ["y"]},
                      {"name": "y", "provider": "b"}], cooldown={"failures": 1})
    dispatcher = _dispatcher(config)
    upstream = Upstream({"a": 500, "b": 500})
    with pytest.raises(GatewayError):
        asyncio.run(dispatcher.run(_exchange(config, "x"), upstream))
    x, y = route_candidates(config, "x")
    assert dispatcher.deployments.state(x) == dispatcher.deployments.state(y) == "cooling"
    upstream.failing.clear()
    upstream.calls.clear()
    exchange = _exchange(config, "x")
    assert asyncio.run(dispatcher.run(exchange, upstream)) == "answer from a"
    assert upstream.calls == ["a"] and not exchange.fallback_used
    assert dispatcher.deployments.state(x) == "ok"  # it answered: the cooldown is over


def test_a_bad_request_is_not_held_against_the_deployment() -> None:
    config = _config([{"name": "x", "provider": "a", "fallbacks": ["y"]},
                      {"name": "y", "provider": "b"}], cooldown={"failures": 1})
    dispatcher = _dispatcher(config)
    with pytest.raises(GatewayError):
        asyncio.run(dispatcher.run(_exchange(config, "x"), Upstream({"a": 400})))
    assert dispatcher.deployments.state(route_candidates(config, "x")[0]) == "ok"


def test_a_stream_stays_in_flight_until_it_ends_and_a_cut_counts_as_a_failure() -> None:
    config = _config(POOL, cooldown={"failures": 1})
    dispatcher = _dispatcher(config)
    exchange = _exchange(config, "gpt-4o")
    asyncio.run(dispatcher.run(exchange, Upstream(), hold=True))
    served = next(c for c in exchange.candidates if c.provider_name == exchange.provider)
    assert dispatcher.deployments.in_flight(served) == 1
    exchange.status = 502  # the upstream cut the stream
    dispatcher.release(exchange)
    dispatcher.release(exchange)  # idempotent
    assert dispatcher.deployments.in_flight(served) == 0
    assert dispatcher.deployments.state(served) == "cooling"


# -- end to end ----------------------------------------------------------------------


def test_a_pool_served_through_the_gateway_spreads_load_and_skips_a_cooled_deployment(
        tmp_path: Path) -> None:
    raw = {"providers": {"emu-a": {"type": "emulator"}, "emu-b": {"type": "emulator"}},
           "models": [{"name": "gpt-4o", "provider": "emu-a"},
                      {"name": "gpt-4o", "provider": "emu-b", "upstream_model": "gpt-4o-2024-08-06"},
                      {"name": "*", "provider": "emu-a"}],
           "retry": {"max_retries": 0}, "cache": {"exact": False},
           "cooldown": {"failures": 1, "period_s": 600}}
    with running_gateway(config_for(tmp_path, raw)) as gw:
        client = gw.openai()
        providers: Counter[str] = Counter()
        for i in range(30):
            response = client.chat.completions.with_raw_response.create(
                model="gpt-4o", messages=[{"role": "user", "content": f"q{i}"}])
            row = gw.ledger_row(response.headers["x-tokenthrift-request-id"])
            assert row.requested_model == "gpt-4o" and not row.fallback_used
            providers[row.provider or ""] += 1
        assert providers["emu-a"] > 0 and providers["emu-b"] > 0  # both deployments serve
        # One failure cools emu-a's deployment; every later request skips it.
        gw.emulator.add_fault(Fault(kind="status", status=500, model="gpt-4o", count=50))
        served = set()
        for i in range(10):
            response = client.chat.completions.with_raw_response.create(
                model="gpt-4o", messages=[{"role": "user", "content": f"r{i}"}])
            row = gw.ledger_row(response.headers["x-tokenthrift-request-id"])
            served.add((row.provider, row.served_model, row.fallback_used))
        assert served == {("emu-b", "gpt-4o-2024-08-06", False)}
        pending = gw.emulator.faults
        assert pending and pending[0].count == 49  # tried once, then never again

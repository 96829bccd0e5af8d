"""Automatic provider prompt caching: where breakpoints go, with what TTL, and how the
saving nets write premiums against reads.

The placement rules are checked on Anthropic Messages bodies directly (the ``shape``
hook's input); the gateway tests (``test_prompt_cache_gateway.py``) check the same
rules against the emulator's caching and the ledger.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tokenthrift.config import ConfigError, parse_config
from tokenthrift.emulator.catalog import cache_minimum
from tokenthrift.levers.prompt_cache.anthropic import minimum_tokens, plan_breakpoints
from tokenthrift.levers.prompt_cache.lever import without_lever_caching
from tokenthrift.levers.prompt_cache.reuse import Reuse, ReuseTracker
from tokenthrift.levers.prompt_cache.settings import PromptCacheSettings
from tokenthrift.types import Usage

NS = b"emu\0model"


def text_of(tokens: int, seed: str = "rule") -> str:
    # ~5 tokens per sentence with cl100k_base
    return " ".join(f"{seed} {i} holds." for i in range(tokens // 5))


def body(model: str = "claude-sonnet-4-5", *, system_tokens: int = 1500,
         messages: list[dict[str, Any]] | None = None,
         tools: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"model": model, "max_tokens": 10,
                           "system": [{"type": "text", "text": text_of(system_tokens)}],
                           "messages": messages or [{"role": "user", "content": "hi there"}]}
    if tools:
        out["tools"] = tools
    return out


def breakpoints(b: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, ttl) of every cache_control in a body, in cache order."""
    found = []
    for tool in b.get("tools") or []:
        if "cache_control" in tool:
            found.append(("tools", tool["cache_control"].get("ttl", "5m")))
    for block in b.get("system") or []:
        if "cache_control" in block:
            found.append(("system", block["cache_control"].get("ttl", "5m")))
    for m, message in enumerate(b["messages"]):
        content = message["content"]
        for block in content if isinstance(content, list) else []:
            if "cache_control" in block:
                found.append((f"message{m}", block["cache_control"].get("ttl", "5m")))
    return found


def shaped(tracker: ReuseTracker, make: Any, times: list[float]) -> list[dict[str, Any]]:
    """``make()`` sent at each of ``times``; the bodies as the lever shaped them."""
    out = []
    for now in times:
        b = make()
        plan_breakpoints(b, NS, tracker, now)
        out.append(b)
    return out


# --- minimum cacheable length ----------------------------------------------------------


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "claude-opus-4-1", "claude-3-5-haiku",
                                   "claude-haiku-4-5", "claude-sonnet-4-6", "claude-opus-4-6"])
def test_minimum_lengths_agree_with_the_documented_table_in_the_emulator(model: str) -> None:
    assert minimum_tokens(model) == cache_minimum(model)


@pytest.mark.parametrize(("model", "system_tokens", "placed"), [
    ("claude-sonnet-4-5", 1500, True),     # minimum 1024
    ("claude-sonnet-4-5", 800, False),
    ("claude-3-5-haiku", 1500, False),     # minimum 2048
    ("claude-3-5-haiku", 2600, True),
    ("claude-haiku-4-5", 2600, False),     # minimum 4096
    ("claude-sonnet-4-6", 2600, True),     # minimum 2048
])
def test_a_breakpoint_needs_the_models_minimum_prefix(model: str, system_tokens: int,
                                                      placed: bool) -> None:
    tracker = ReuseTracker(100)
    _, second = shaped(tracker, lambda: body(model, system_tokens=system_tokens), [0.0, 5.0])
    assert (breakpoints(second) == [("system", "5m")]) is placed
    if not placed:
        assert breakpoints(second) == []


# --- when a write pays -------------------------------------------------------------------


def test_a_prefix_seen_once_is_not_written_the_second_use_within_5_minutes_is() -> None:
    tracker = ReuseTracker(100)
    first, second, third = shaped(tracker, body, [0.0, 30.0, 60.0])
    assert breakpoints(first) == []
    assert breakpoints(second) == [("system", "5m")]
    assert breakpoints(third) == [("system", "5m")]


def test_ttl_follows_the_observed_reuse_interval() -> None:
    # every 10 minutes: a 5-minute entry would be written each time, a 1-hour one read
    tracker = ReuseTracker(100)
    bodies = shaped(tracker, body, [0.0, 600.0, 1200.0, 1800.0])
    assert [breakpoints(b) for b in bodies] == [[], [], [("system", "1h")], [("system", "1h")]]
    # every 2 hours: even the 1-hour entry expires, a write never pays back
    tracker = ReuseTracker(100)
    bodies = shaped(tracker, body, [0.0, 7200.0, 14400.0, 21600.0])
    assert all(breakpoints(b) == [] for b in bodies)
    # every few seconds: the 5-minute entry stays warm and costs less to write
    tracker = ReuseTracker(100)
    bodies = shaped(tracker, body, [0.0, 3.0, 6.0, 9.0])
    assert breakpoints(bodies[-1]) == [("system", "5m")]


def test_expected_cost_per_use_against_sending_uncached() -> None:
    reuse = Reuse(0.0)
    assert reuse.ttl() is None  # no gap seen yet
    frequent = Reuse(0.0, gaps=20, over_5m=0, over_1h=0)
    assert frequent.expected_cost("5m") == pytest.approx(0.1 + 1.15 / 21)
    assert frequent.ttl() == "5m"
    assert Reuse(0.0, gaps=5, over_5m=5, over_1h=0).ttl() == "1h"
    assert Reuse(0.0, gaps=5, over_5m=5, over_1h=0).ttl(allow_1h=False) is None


def test_the_tracker_is_bounded_least_recently_used_first() -> None:
    tracker = ReuseTracker(2)
    for i in range(5):
        tracker.see(bytes([i]), float(i))
    assert len(tracker) == 2
    assert tracker.get(bytes([0])) is None and tracker.get(bytes([4])) is not None


# --- the client's breakpoints and the limit of 4 ------------------------------------------


def conversation(turns: int, *, first_tokens: int = 50) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "user", "content": text_of(first_tokens, "doc")}]
    for i in range(1, turns):
        messages += [{"role": "assistant", "content": f"answer {i}"},
                     {"role": "user", "content": f"follow-up {i}"}]
    return messages


def test_a_growing_conversation_gets_its_latest_turn_cached() -> None:
    tracker = ReuseTracker(100)
    bodies = [body(messages=conversation(n)) for n in (1, 2, 3)]
    for now, b in zip((0.0, 20.0, 40.0), bodies, strict=True):
        plan_breakpoints(b, NS, tracker, now)
    assert breakpoints(bodies[0]) == []
    # turn 2 extends turn 1: system (seen once before, one short gap) and the latest turn
    assert breakpoints(bodies[1]) == [("system", "5m"), ("message0", "5m"), ("message2", "5m")]
    assert breakpoints(bodies[2]) == [("system", "5m"), ("message0", "5m"), ("message4", "5m")]


def test_client_breakpoints_win_and_the_total_stays_at_most_4() -> None:
    tools = [{"name": f"tool{i}", "description": text_of(300, f"t{i}"),
              "input_schema": {"type": "object"}} for i in range(3)]

    def make() -> dict[str, Any]:
        b = body(messages=conversation(3), tools=copy.deepcopy(tools))
        b["tools"][0]["cache_control"] = {"type": "ephemeral"}
        b["tools"][1]["cache_control"] = {"type": "ephemeral", "ttl": "1h"}
        b["tools"][2]["cache_control"] = {"type": "ephemeral"}
        return b

    tracker = ReuseTracker(100)
    bodies = shaped(tracker, make, [0.0, 10.0, 20.0])
    for b in bodies:
        marks = breakpoints(b)
        assert len(marks) <= 4
        assert marks[:3] == [("tools", "5m"), ("tools", "1h"), ("tools", "5m")]  # untouched
    # one breakpoint left: the system prompt comes first; 5m after the client's 5m
    assert breakpoints(bodies[-1])[3:] == [("system", "5m")]

    def full() -> dict[str, Any]:
        b = make()
        b["system"][0]["cache_control"] = {"type": "ephemeral"}
        return b

    bodies = shaped(ReuseTracker(100), full, [0.0, 10.0, 20.0])
    assert breakpoints(bodies[-1]) == [("tools", "5m"), ("tools", "1h"), ("tools", "5m"),
                                       ("system", "5m")]


def test_the_lever_only_adds_beyond_the_clients_last_breakpoint() -> None:
    def make() -> dict[str, Any]:
        b = body(messages=conversation(2, first_tokens=1200))
        b["messages"][0]["content"] = [{"type": "text", "text": b["messages"][0]["content"],
                                        "cache_control": {"type": "ephemeral"}}]
        return b

    tracker = ReuseTracker(100)
    bodies = shaped(tracker, make, [0.0, 10.0, 20.0])
    # the system prompt is before the client's breakpoint: left alone; the repeated
    # latest turn after it is the lever's
    assert breakpoints(bodies[-1]) == [("message0", "5m"), ("message2", "5m")]
    plan = plan_breakpoints(make(), NS, tracker, 30.0)
    assert plan.client_breakpoints == 1 and plan.client_tokens > 2500
    assert [b.kind for b in plan.added] == ["turn"]
    assert all(b.tokens > plan.client_tokens for b in plan.added)


def test_one_hour_breakpoints_never_follow_five_minute_ones() -> None:
    # the system prompt is reused every 10 minutes (1h pays), conversations every few
    # seconds (5m): 1h first, then 5m, as the API requires
    tracker = ReuseTracker(100)
    for now in (0.0, 600.0, 1200.0):
        plan_breakpoints(body(), NS, tracker, now)
    convo = [body(messages=conversation(n)) for n in (1, 2)]
    plan_breakpoints(convo[0], NS, tracker, 1800.0)
    plan_breakpoints(convo[1], NS, tracker, 1805.0)
    marks = breakpoints(convo[1])
    assert marks[0] == ("system", "1h")
    ttls = [ttl for _, ttl in marks]
    assert ttls == sorted(ttls, key=lambda t: t != "1h")


# --- netting: what the lever's breakpoints did to the bill ---------------------------------


def test_without_the_lever_its_cached_tokens_are_uncached_input() -> None:
    # no client breakpoint: every cached token is the lever's
    write = Usage(input_tokens=10, cache_write_5m_tokens=3000, output_tokens=5)
    assert without_lever_caching(write, 0) == Usage(input_tokens=3010, output_tokens=5)
    read = Usage(input_tokens=10, cache_read_tokens=3000, output_tokens=5)
    assert without_lever_caching(read, 0) == Usage(input_tokens=3010, output_tokens=5)
    # the client cached 1000 tokens; the lever's breakpoint the 2000 after them
    mixed = Usage(input_tokens=10, cache_read_tokens=1000, cache_write_5m_tokens=2000)
    assert without_lever_caching(mixed, 1000) == Usage(input_tokens=2010,
                                                       cache_read_tokens=1000)
    # the client's 1h stretch (first) is written, the lever's 5m stretch after it too
    both = Usage(cache_write_1h_tokens=1000, cache_write_5m_tokens=500)
    assert without_lever_caching(both, 1000) == Usage(input_tokens=500,
                                                      cache_write_1h_tokens=1000)
    # a read that reached past the client's breakpoint: only the excess is the lever's
    past = Usage(cache_read_tokens=1800, cache_write_5m_tokens=200)
    assert without_lever_caching(past, 1000) == Usage(input_tokens=1000, cache_read_tokens=1000)


# --- configuration ----------------------------------------------------------------------


def test_config_section() -> None:
    settings = PromptCacheSettings.from_config(parse_config({"prompt_caching": {"openai": "off"}}))
    assert settings.anthropic_auto and not settings.openai_auto
    yaml_off = parse_config({"prompt_caching": {"anthropic": False, "openai": False}})
    assert not PromptCacheSettings.from_config(yaml_off).enabled
    assert not PromptCacheSettings.from_config(parse_config({})).enabled
    with pytest.raises(ConfigError, match=r"prompt_caching\.anthropic: .*auto, off"):
        PromptCacheSettings.from_config(parse_config({"prompt_caching": {"anthropic": "always"}}))
    with pytest.raises(ConfigError, match=r"prompt_caching\.ttl: unknown key 'ttl'"):
        PromptCacheSettings.from_config(parse_config({"prompt_caching": {"ttl": "1h"}}))

"""The config file is read strictly: a typo or a wrong value fails at start-up with the
key path and what is allowed there, instead of being ignored or failing in Python terms."""

from __future__ import annotations

from typing import Any

import pytest

from tokenthrift import registry
from tokenthrift.config import ConfigError, GatewayConfig, parse_config
from tokenthrift.levers.cache.settings import CacheSettings
from tokenthrift.levers.governance.settings import parse_settings

EMULATED = {"providers": {"emu": {"type": "emulator"}}, "models": [{"name": "*", "provider": "emu"}]}


def error_of(raw: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as raised:
        parse_config(raw)
    return str(raised.value)


def lever_error_of(raw: dict[str, Any]) -> str:
    config = parse_config(raw)
    with pytest.raises(ConfigError) as raised:
        CacheSettings.from_config(config)
        parse_settings(config)
    return str(raised.value)


def test_every_key_of_the_documented_schema_is_accepted() -> None:
    config = parse_config({
        "providers": {
            "openai": {"type": "openai", "base_url": "https://api.openai.com/v1", "api_key": "sk-1",
                       "headers": {"OpenAI-Organization": "org-1"}},
            "anthropic": {"api_key": "sk-2"},
            "local": {"type": "openai", "base_url": "http://127.0.0.1:8000/v1"},
            "emu": {"type": "emulator", "emulator": {"ttft_ms": 5, "accept_any_model": True,
                                                     "extra_models": ["m"], "rpm": 10}},
        },
        "models": [{"name": "gpt-4o", "provider": "openai", "upstream_model": "gpt-4o",
                    "fallbacks": ["claude"], "timeout_s": 30},
                   {"name": "claude", "provider": "anthropic"}, {"name": "*", "provider": "emu"}],
        "retry": {"max_retries": 0, "backoff_s": 0.1, "max_backoff_s": 1, "max_retry_after_s": 5},
        "timeout_s": "600", "connect_timeout_s": 3, "max_body_bytes": 1024, "data_dir": "/tmp/d",
        "master_key": "mk",
        "storage": {"ledger": "postgresql://u:p@h/db", "prompts": "full", "redis": "redis://h:6379/0",
                    "ledger_flush_interval_s": 0.5, "ledger_schema": "tt"},
        "pricing": {"my-llama": {"gpu_hour_usd": 2.0, "tokens_per_second": 2500}},
        "cache": {"backend": "redis", "exact": {"ttl": "1h"}, "semantic": {"enabled": False}},
        "governance": {"auth": "required", "teams": {"search": {"rpm": 600, "tpm": 200000}}},
    })
    assert config.timeout_s == 600.0 and config.models[0].timeout_s == 30.0
    assert config.providers["emu"].emulator["extra_models"] == ["m"]
    assert CacheSettings.from_config(config).exact.ttl_s == 3600
    assert parse_settings(config).teams["search"].rpm == 600


@pytest.mark.parametrize(("raw", "message"), [
    ({"cahce": {}}, "cahce: unknown section 'cahce' (did you mean 'cache'?); allowed: batch, cache, "),
    ({"providers": {"emu": {"type": "emulator", "emulator": {"ttft": 5}}}},
     "providers.emu.emulator.ttft: unknown key 'ttft' (did you mean 'ttft_ms'?); allowed: "),
    ({"models": [{"name": "*", "provider": "emulator", "fallback": ["x"]}]},
     "models[0].fallback: unknown key 'fallback' (did you mean 'fallbacks'?)"),
    ({"retry": {"retries": 3}}, "retry.retries: unknown key 'retries'"),
    ({"storage": {"leger": "x.db"}}, "storage.leger: unknown key 'leger' (did you mean 'ledger'?)"),
    ({"pricing": {"my-llama": {"gpu_hour": 2}}},
     "pricing.my-llama.gpu_hour: unknown key 'gpu_hour' (did you mean 'gpu_hour_usd'?)"),
])
def test_an_unknown_section_or_key_is_named_with_its_path_and_the_allowed_keys(
        raw: dict[str, Any], message: str) -> None:
    assert error_of(raw).startswith(message)


def test_an_unknown_key_inside_a_lever_section_is_named_by_the_levers_parser() -> None:
    message = lever_error_of({"cache": {"exact": {"tll": "1h"}}})
    assert message == ("cache.exact.tll: unknown key 'tll' (did you mean 'ttl'?); "
                       "allowed: enabled, max_entries, scope, ttl")
    assert lever_error_of({"cache": {"semantic": {"enabled": False, "treshold": 0.9}}}).startswith(
        "cache.semantic.treshold: unknown key 'treshold' (did you mean 'threshold'?)")
    assert lever_error_of({"governance": {"teams": {"search": {"rpn": 5}}}}).startswith(
        "governance.teams.search.rpn: unknown key 'rpn' (did you mean 'rpm'?); allowed: rpm, tpm")


@pytest.mark.parametrize(("raw", "message"), [
    ({"timeout_s": "abc"}, "timeout_s: expected a number of seconds, got 'abc'"),
    ({"timeout_s": -1}, "timeout_s: expected a number of seconds above 0, got -1"),
    ({"max_body_bytes": "lots"}, "max_body_bytes: expected a positive integer, got 'lots'"),
    ({"retry": {"max_retries": "two"}}, "retry.max_retries: expected an integer, got 'two'"),
    ({"storage": {"prompts": "some"}}, "storage.prompts: expected one of off, hash, full, got 'some'"),
    ({"storage": {"ledger": "mysql://root:secret@db/x"}},
     "storage.ledger: expected postgresql://…, sqlite:///path or a file path, got a mysql:// URL"),
    ({"models": [{"name": "*", "provider": "emulator", "timeout_s": True}]},
     "models[0].timeout_s: expected a number of seconds, got True"),
    ({"models": {"name": "*"}}, "models: expected a list of {name, provider}"),
    ({"models": [{"name": "*"}]}, "models[0].provider: required"),
    ({"providers": {"emu": {"type": "emulator", "emulator": {"accept_any_model": "yes"}}}},
     "providers.emu.emulator.accept_any_model: expected true or false, got 'yes'"),
    ({"providers": {"mine": {"base_url": "http://h"}}}, "providers.mine.type: required"),
    ({"pricing": {"m": {"input_per_mtok": "cheap", "output_per_mtok": 1}}}, "pricing.m: input_per_mtok"),
    ({"cache": False}, "cache: expected a mapping of keys to values, got False"),
])
def test_a_value_of_the_wrong_type_names_the_key_and_what_was_expected(
        raw: dict[str, Any], message: str) -> None:
    assert error_of(raw).startswith(message)
    assert "secret" not in error_of(raw)


@pytest.mark.parametrize(("raw", "message"), [
    ({"cache": {"exact": {"ttl": "soon"}}},
     "cache.exact.ttl: expected a duration like 3600, \"15m\" or \"1h\", got 'soon'"),
    ({"cache": {"store_truncated": "no"}}, "cache.store_truncated: expected true or false, got 'no'"),
    ({"governance": {"refresh_s": "often"}},
     "governance.refresh_s: expected a number of seconds, got 'often'"),
    ({"governance": {"reserve_cap_usd": "ten cents"}},
     "governance.reserve_cap_usd: expected a non-negative number, got 'ten cents'"),
])
def test_lever_values_of_the_wrong_type_name_the_key(raw: dict[str, Any], message: str) -> None:
    assert lever_error_of(raw) == message


def test_durations_are_accepted_where_the_setting_is_a_duration() -> None:
    settings = CacheSettings.from_config(parse_config({"cache": {"exact": {"ttl": "15m"}}}))
    assert settings.exact.ttl_s == 900


def test_a_planned_levers_section_says_the_lever_is_not_in_this_version(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A lever on the roadmap (real ones leave PLANNED as they land, so add one here).
    monkeypatch.setitem(registry.PLANNED, "telepathy", "mind-reading")
    for section, description in registry.PLANNED.items():
        if section in registry.sections():
            continue  # it has arrived: its own parser reads the section
        assert error_of({**EMULATED, section: {"enabled": True}}) == (
            f"{section}: the {description} lever is not available in this version "
            f"(levers: {', '.join(registry.sections())})")


def test_every_registered_lever_section_is_handed_to_its_lever() -> None:
    raw = {section: {"read by": "the lever"} for section in registry.sections()}
    config = parse_config({**EMULATED, **raw})
    assert config.levers == raw and isinstance(config, GatewayConfig)

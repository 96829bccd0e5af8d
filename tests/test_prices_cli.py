"""``tokenthrift prices``: the rates the gateway bills with, where they come from, and
configured models that could not be priced, found before the ledger shows it."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import yaml
from click.testing import CliRunner

from tokenthrift.cli.main import cli


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump({
        "providers": {"emulator": {"type": "emulator"}},
        "models": [
            {"name": "gpt-4o", "provider": "emulator"},
            {"name": "fast", "provider": "emulator", "upstream_model": "claude-haiku-4-5"},
            {"name": "my-llama", "provider": "emulator"},
            {"name": "mystery-7b", "provider": "emulator"},
            {"name": "*", "provider": "emulator"},
        ],
        "storage": {"ledger": f"sqlite:///{tmp_path}/ledger.db"},
        "pricing": {"my-llama": {"input_per_mtok": 0.2, "output_per_mtok": 0.6}},
    }))
    return path


def test_show_prints_the_published_rates_and_the_catalog_source() -> None:
    result = CliRunner().invoke(cli, ["prices", "show", "gpt-4o"])
    assert result.exit_code == 0, result.output
    # gpt-4o: input $2.50, cached input $1.25, output $10.00 per MTok (openai.com/api/pricing)
    assert "input:             $2.5/MTok" in result.output
    assert "cached input:      $1.25/MTok" in result.output
    assert "output:            $10/MTok" in result.output
    assert "catalog: genai-prices " in result.output and "prices in force on" in result.output


def test_show_json_has_tiers_batch_and_source() -> None:
    result = CliRunner().invoke(cli, ["prices", "show", "claude-sonnet-4-5", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    price = body["price"]
    assert (price["input"], price["output"], price["cache_write_5m"]) == ("3", "15", "3.75")
    assert price["source"] == "genai-prices" and price["catalog_model"] == "claude-sonnet-4-5"
    assert price["tiers"][0]["above_input_tokens"] == 200_000
    assert price["batch"]["input"] == "1.5"
    assert body["catalog"]["name"] == "genai-prices" and body["catalog"]["version"]


def test_show_an_unknown_model_says_so_and_exits_1() -> None:
    result = CliRunner().invoke(cli, ["prices", "show", "mystery-7b"])
    assert result.exit_code == 1
    assert "mystery-7b: no price" in result.output


def test_show_applies_the_configs_overrides(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["prices", "show", "my-llama", "--config",
                                      str(_config(tmp_path)), "--json"])
    assert result.exit_code == 0, result.output
    price = json.loads(result.output)["price"]
    assert (price["input"], price["output"], price["source"]) == ("0.2", "0.6", "override")


def test_list_by_provider_and_overrides_marked(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["prices", "list", "--provider", "anthropic"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.split()[:2] == ["anthropic", "claude-sonnet-4-5"] for line in lines)
    assert not any(line.startswith("openai ") for line in lines)
    assert "catalog: genai-prices" in lines[-1]

    marked = CliRunner().invoke(cli, ["prices", "list", "--provider", "openai", "--config",
                                      str(_config(tmp_path)), "--json"])
    models = json.loads(marked.output)["models"]
    assert models[0] == {"provider": "override", "model": "my-llama",
                         "price": models[0]["price"]}
    assert models[0]["price"]["source"] == "override"
    assert any(m["model"] == "gpt-4o" and m["provider"] == "openai" for m in models)


def test_list_refuses_an_unknown_provider() -> None:
    result = CliRunner().invoke(cli, ["prices", "list", "--provider", "nobody"])
    assert result.exit_code == 2 and "unknown provider 'nobody'" in result.output


def test_check_names_unpriced_models_and_overrides(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["prices", "check", "--config", str(_config(tmp_path)),
                                      "--json"])
    assert result.exit_code == 1, result.output
    body = json.loads(result.output)
    by_name = {m["name"]: m for m in body["models"]}
    assert by_name["gpt-4o"]["source"] == "genai-prices:gpt-4o"
    assert by_name["fast"]["upstream_model"] == "claude-haiku-4-5"
    assert by_name["fast"]["source"] == "genai-prices:claude-haiku-4-5"
    assert by_name["my-llama"]["source"] == "override"
    assert by_name["*"]["pattern"] is True
    assert body["unpriced"] == ["mystery-7b"]


def test_check_passes_once_every_model_is_priced(tmp_path: Path) -> None:
    path = _config(tmp_path)
    raw = yaml.safe_load(path.read_text())
    raw["pricing"]["mystery-7b"] = {"gpu_hour_usd": 2.0, "tokens_per_second": 2500}
    path.write_text(yaml.safe_dump(raw))
    result = CliRunner().invoke(cli, ["prices", "check", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert "mystery-7b (emulator): input $0.222222222222" in result.output
    assert "ok: every configured model is priced" in result.output


def test_check_of_a_missing_file_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["prices", "check", "--config", str(tmp_path / "no.yaml")])
    assert result.exit_code == 2 and "not found" in result.output


def test_serve_warns_at_start_up_about_unpriced_models(tmp_path: Path) -> None:
    # The port is taken, so serve stops right after start-up: the warning is already out.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["serve", "--config", str(_config(tmp_path)),
                                          "--port", str(port)])
    assert result.exit_code != 0
    assert "warning: model 'mystery-7b' has no price" in result.output
    assert "'gpt-4o'" not in result.output and "'my-llama'" not in result.output

"""``cache.semantic`` settings: parsed from YAML, invalid values named in a ValueError."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import pytest

from tokenthrift.levers.cache.semantic import SemanticSettings, decision_for
from tokenthrift.levers.cache.semantic.guards import DEFAULT_GUARDS
from tokenthrift.levers.cache.semantic.settings import DEFAULT_TARGET_PRECISION


def test_defaults() -> None:
    s = SemanticSettings.from_mapping(None)
    assert s == SemanticSettings.from_mapping({})
    assert not s.enabled and s.embedder == "onnx-minilm" and s.scope == "key"
    assert s.ttl == 3600.0 and s.max_entries == 100_000 and s.guards == DEFAULT_GUARDS
    assert s.effective_target_precision == DEFAULT_TARGET_PRECISION


def test_a_full_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBED_KEY", "sk-test")
    s = SemanticSettings.from_mapping({
        "enabled": True, "threshold": 0.91, "ttl": "15m", "scope": "team", "max_entries": "500",
        "embedder": "openai:text-embedding-3-small@https://api.example.com/v1",
        "embedder_api_key": "${EMBED_KEY}", "embedder_price_per_mtok": "0.02",
        "guards": ["numbers", "negation"], "review": False,
    })
    assert s.enabled and s.threshold == 0.91 and s.ttl == 900.0 and s.scope == "team"
    assert s.max_entries == 500 and s.embedder_api_key == "sk-test"
    assert s.embedder_price_per_mtok == Decimal("0.02") and s.guards == ("numbers", "negation")
    assert s.review is False and SemanticSettings().review is True
    assert s.effective_target_precision is None
    assert "sk-test" not in repr(s)


@pytest.mark.parametrize(("raw", "message"), [
    ({"threshold": 0.9, "target_precision": 0.9}, "not both"),
    ({"target_precision": 1.0}, "target_precision"),
    ({"threshold": 1.5}, "threshold"),
    ({"threshold": "high"}, "threshold"),
    ({"scope": "planet"}, "scope"),
    ({"max_entries": 0}, "max_entries"),
    ({"max_entries": 2.5}, "max_entries"),
    ({"ttl": "soon"}, "ttl"),
    ({"ttl": -5}, "ttl"),
    ({"enabled": "yes"}, "enabled"),
    ({"review": "no"}, "review"),
    ({"embedder": "word2vec"}, "embedder"),
    ({"embedder": "openai:text-embedding-3-small"}, "embedder"),
    ({"guards": ["numbers", "vibes"]}, "guards"),
    ({"colour": "blue"}, "unknown key"),
])
def test_invalid_settings_say_what_is_wrong(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SemanticSettings.from_mapping(raw)


def test_ttl_never_means_no_expiry() -> None:
    assert SemanticSettings.from_mapping({"ttl": "15m"}).ttl == 900.0
    assert SemanticSettings.from_mapping({"ttl": "never"}).ttl is None
    assert SemanticSettings.from_mapping({"ttl": 0}).ttl is None


def test_the_threshold_of_a_target_precision_comes_from_the_shipped_calibration() -> None:
    low = decision_for(SemanticSettings(target_precision=0.80)).threshold
    high = decision_for(SemanticSettings(target_precision=0.90)).threshold
    assert 0.5 < low <= high < 1.0
    assert decision_for(SemanticSettings(threshold=0.97)).threshold == 0.97


def test_an_unreachable_target_or_an_uncalibrated_embedder_is_refused() -> None:
    with pytest.raises(ValueError, match="above what embedder"):
        decision_for(SemanticSettings(target_precision=0.999))
    with pytest.raises(ValueError, match="no calibration ships"):
        decision_for(SemanticSettings(embedder="onnx:/models/bge-small"))


def test_the_vector_index_and_the_embedder_runtime_load_in_either_order() -> None:
    # usearch 2.26 wheels crash onnxruntime's import when loaded first (a libstdc++ clash);
    # pyproject pins a release without it, and this catches a regression.
    code = "import usearch.index, onnxruntime; import tokenthrift.levers.cache.semantic.index"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0

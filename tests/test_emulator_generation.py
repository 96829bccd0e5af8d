"""The emulator's building blocks: generated text, schema values, vectors, caches."""

from __future__ import annotations

import math
from array import array

import pytest

from tokenthrift.emulator.embeddings import embed
from tokenthrift.emulator.generation import derive_seed, forced_reply, generate, token_pieces
from tokenthrift.emulator.prompt_cache import BreakpointCache, CacheBlock, PrefixCache
from tokenthrift.emulator.schema_values import object_for
from tokenthrift.tokens import count_encoded, get_encoding


@pytest.mark.parametrize("encoding", ["cl100k_base", "o200k_base"])
def test_generated_text_is_exactly_as_many_tokens_as_reported(encoding: str) -> None:
    lengths = set()
    for salt in range(300):
        generated = generate(encoding, derive_seed(12345, salt), limit=None)
        assert count_encoded(encoding, generated.text) == generated.tokens == len(generated.pieces)
        lengths.add(generated.tokens)
    assert min(lengths) >= 20 and max(lengths) <= 120 and len(lengths) > 50


def test_truncation_keeps_a_prefix_and_reports_length() -> None:
    full = generate("o200k_base", 99, limit=None)
    cut = generate("o200k_base", 99, limit=7)
    assert full.text.startswith(cut.text)
    assert (cut.tokens, cut.finish) == (7, "length")
    assert full.finish == "stop"


def test_stop_sequence_cuts_before_the_sequence() -> None:
    full = generate("o200k_base", 3, limit=None)
    stop = full.text.split(" ")[4]
    cut = generate("o200k_base", 3, limit=None, stop=["zzz-not-there", stop])
    assert cut.finish == "stop_sequence" and cut.stop_sequence == stop
    assert cut.text == full.text[: full.text.index(stop)]
    assert cut.tokens == count_encoded("o200k_base", cut.text)


def test_forced_replies_and_multibyte_pieces() -> None:
    assert forced_reply("a [[emulator:reply=Hi\nthere]] b") == "Hi\nthere"
    assert forced_reply("no marker") is None
    text = "naïve café 🚀 done"
    generated = generate("o200k_base", 0, limit=None, forced=text)
    assert generated.text == text
    assert generated.tokens == count_encoded("o200k_base", text)
    ids = get_encoding("cl100k_base").encode_ordinary("🚀🚀")
    assert "".join(token_pieces("cl100k_base", ids)) == "🚀🚀"


def test_schema_values_fill_required_properties_plausibly() -> None:
    schema = {
        "type": "object",
        "properties": {
            "email": {"type": "string", "format": "email"},
            "count": {"type": "integer", "minimum": 3, "maximum": 5},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
            "mode": {"enum": ["fast", "slow"]},
            "nested": {"type": "object", "properties": {"flag": {"type": "boolean"}}},
            "optional": {"type": "string"},
        },
        "required": ["email", "count", "tags", "mode", "nested"],
    }
    value = object_for(schema, 42)
    assert set(value) == {"email", "count", "tags", "mode", "nested"}
    assert value["email"] == "user@example.com"
    assert 3 <= value["count"] <= 5
    assert len(value["tags"]) == 2 and all(isinstance(t, str) for t in value["tags"])
    assert value["mode"] in ("fast", "slow")
    assert isinstance(value["nested"]["flag"], bool)
    assert object_for(schema, 42) == value


def test_embeddings_reflect_word_overlap() -> None:
    def cosine(a: str, b: str) -> float:
        return sum(x * y for x, y in zip(embed(a, 512), embed(b, 512), strict=True))

    assert math.isclose(math.hypot(*embed("anything at all", 512)), 1.0)
    assert cosine("What is the capital of France?", "what is the capital of france") > 0.85
    assert cosine("What is the capital of France?", "Best pizza dough recipe") < 0.3
    assert embed("same", 64) == embed("same", 64)
    assert math.isclose(math.hypot(*embed("!!!", 64)), 1.0)  # no words: still a unit vector


def test_prefix_cache_rounds_down_to_128_token_increments() -> None:
    now = [0.0]
    cache = PrefixCache(lambda: now[0], ttl_s=300, max_entries=1000)
    prompt = array("i", range(2000))
    assert cache.cached_tokens(b"org", prompt) == 0
    assert cache.cached_tokens(b"org", prompt) == 1920
    assert cache.cached_tokens(b"other-org", prompt) == 0
    diverging = array("i", [*range(1100), *range(5000, 6000)])
    assert cache.cached_tokens(b"org", diverging) == 1024
    now[0] = 301.0
    assert cache.cached_tokens(b"org", prompt) == 0


def test_breakpoint_cache_splits_writes_by_ttl() -> None:
    cache = BreakpointCache(lambda: 0.0, max_entries=100)
    blocks = [CacheBlock(b"a", "1h"), CacheBlock(b"b", None), CacheBlock(b"c", "5m")]
    sizes = [1500, 1700, 2000]
    usage = cache.account(blocks, sizes.__getitem__, minimum=1024)
    assert (usage.read, usage.write_1h, usage.write_5m) == (0, 1500, 500)
    again = cache.account(blocks, sizes.__getitem__, minimum=1024)
    assert (again.read, again.write) == (2000, 0)

"""Offline token counting: encodings from the bpe-openai package, OpenAI's chat overhead."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tokenthrift import tokens


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o-mini", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("chatgpt-4o-latest", "o200k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("text-embedding-3-small", "cl100k_base"),
        ("claude-sonnet-4-5", "cl100k_base"),
        ("openai/gpt-4o", "o200k_base"),
        ("some-local-model", "o200k_base"),
    ],
)
def test_encoding_for_model(model: str, encoding: str) -> None:
    assert tokens.encoding_for_model(model).name == encoding


def test_known_counts() -> None:
    assert tokens.count_text("Hello, world!", "gpt-4o") == 4
    assert tokens.count_text("", "gpt-4o") == 0
    # o200k_base's larger vocabulary covers non-English text far better than cl100k_base.
    text = "Привет, как дела сегодня?"
    assert (tokens.count_text(text, "gpt-4o"), tokens.count_text(text, "gpt-4")) == (7, 12)
    # Special-token strings in user text are counted as text, never rejected.
    assert tokens.count_text("<|endoftext|>", "gpt-4o") > 1


def test_count_chat_follows_openais_recipe() -> None:
    messages = [("system", "You are helpful."), ("user", "Hi there", "bob")]
    # system: 3 + "system" 1 + 4; user: 3 + "user" 1 + 2 + "bob" 1 + 1; priming 3
    assert tokens.count_chat(messages, "gpt-4o") == 8 + 8 + 3
    tools = '[{"type":"function","function":{"name":"f"}}]'
    assert tokens.count_chat(messages, "gpt-4o", tools) == 19 + tokens.count_text(tools, "gpt-4o")
    assert tokens.count_chat([], "gpt-4o") == 3


def test_chat_token_ids_line_up_with_count_chat() -> None:
    messages = [("system", "Be brief."), ("user", "A long question " * 50, "ann")]
    ids = tokens.chat_token_ids(messages, "gpt-4o", '{"tools": []}')
    assert len(ids) == tokens.count_chat(messages, "gpt-4o", '{"tools": []}')


def test_encodings_are_decompressed_under_tiktokens_file_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    monkeypatch.setenv("TOKENTHRIFT_HOME", str(tmp_path))
    tokens._ensure_blob("cl100k_base")
    url = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
    blob = tmp_path / "tiktoken" / hashlib.sha1(url.encode()).hexdigest()
    # The SHA-256 tiktoken_ext.openai_public expects for cl100k_base.
    expected = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == expected
    assert os.environ["TIKTOKEN_CACHE_DIR"] == str(tmp_path / "tiktoken")


def test_a_populated_tiktoken_cache_dir_is_used_as_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
    blob = tmp_path / hashlib.sha1(url.encode()).hexdigest()
    blob.write_bytes(b"pre-populated")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TOKENTHRIFT_HOME", str(tmp_path / "unused"))
    tokens._ensure_blob("o200k_base")
    assert blob.read_bytes() == b"pre-populated"
    assert not (tmp_path / "unused").exists()

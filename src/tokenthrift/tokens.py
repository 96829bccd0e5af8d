"""Offline token counting with OpenAI's BPE encodings.

tiktoken normally downloads its ``.tiktoken`` rank files from OpenAI's blob store on
first use; this machine (and many deployments) has no network. The ``bpe-openai``
package ships the same files gzipped, so we decompress them once into a cache
directory under the file name tiktoken looks for (the SHA-1 of the blob URL that
``tiktoken_ext.openai_public`` loads) and point ``TIKTOKEN_CACHE_DIR`` there. tiktoken
then checks the file's SHA-256 against the hash it expects, exactly as after a
download, so a corrupted cache can never produce wrong counts silently.

Chat overhead follows OpenAI's published recipe (openai-cookbook, "How to count tokens
with tiktoken"): every message costs 3 tokens of framing plus its encoded role and
content, a ``name`` costs its tokens plus 1, and 3 tokens prime the assistant's reply.
Tool definitions are injected by OpenAI in an undocumented format; we count the JSON
text of the ``tools`` array instead, which is close (within a few percent) but not
exact. Anthropic does not publish Claude's tokenizer, so ``claude-*`` models are counted
with ``cl100k_base``, a documented approximation (Claude's counts run a little higher).

The gateway estimates usage with :func:`count_chat` when a stream is cut, and the
emulator reports prompt tokens with the same function, so both always agree.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import tempfile
import threading
from array import array
from collections.abc import Sequence
from functools import cache, lru_cache
from pathlib import Path

import tiktoken

# The URLs tiktoken_ext.openai_public passes to load_tiktoken_bpe; tiktoken caches each
# blob as sha1(url) inside TIKTOKEN_CACHE_DIR.
_BLOB_URLS = {
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
}

# Longest prefixes first: "gpt-4o" must win over "gpt-4".
_O200K_PREFIXES = (
    "gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "gpt-6", "gpt-oss", "chatgpt-4o",
    "o1", "o3", "o4", "codex",
)  # fmt: skip
_CL100K_PREFIXES = ("gpt-4", "gpt-3.5", "gpt-35", "text-embedding-", "claude")

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3

# Placeholder ids for the chat framing tokens in chat_token_ids (never real token ids).
_FRAME_ID = -1
_PRIMING_ID = -2
_NAME_ID = -3

# (role, content) or (role, content, name); a None name means no name
ChatMessage = tuple[str, ...] | tuple[str, str, str | None]

_setup_lock = threading.Lock()


def cache_dir() -> Path:
    """Where decompressed encodings live: ``$TOKENTHRIFT_HOME/tiktoken`` or ~/.cache."""
    home = os.environ.get("TOKENTHRIFT_HOME")
    if home:
        return Path(home) / "tiktoken"
    return Path.home() / ".cache" / "tokenthrift" / "tiktoken"


def _blob_file_name(encoding_name: str) -> str:
    return hashlib.sha1(_BLOB_URLS[encoding_name].encode()).hexdigest()


def _packaged_blob(encoding_name: str) -> Path:
    """The gzipped rank file inside the installed bpe-openai package.

    Located with ``find_spec`` rather than ``importlib.resources.files("bpe_openai.data")``
    because importing the ``bpe_openai`` package builds its own tokenizers (~0.75 s);
    we only need its data files.
    """
    spec = importlib.util.find_spec("bpe_openai")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("bpe-openai is not installed: it ships the offline BPE files")
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    return package_dir / "data" / f"{encoding_name}.tiktoken.gz"


def _write_blob(directory: Path, encoding_name: str) -> None:
    data = gzip.decompress(_packaged_blob(encoding_name).read_bytes())
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / _blob_file_name(encoding_name)
    # Write-then-rename so concurrent processes (server workers) never read a torn file.
    tmp = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)


def _ensure_blob(encoding_name: str) -> None:
    """Make the rank file for ``encoding_name`` available in TIKTOKEN_CACHE_DIR."""
    configured = os.environ.get("TIKTOKEN_CACHE_DIR")
    if configured and (Path(configured) / _blob_file_name(encoding_name)).exists():
        return  # an already-populated cache (e.g. baked into an image) is honoured
    if configured:
        try:
            _write_blob(Path(configured), encoding_name)
            return
        except OSError:
            pass  # read-only or unusable: fall back to our own cache directory
    ours = cache_dir()
    if not (ours / _blob_file_name(encoding_name)).exists():
        try:
            _write_blob(ours, encoding_name)
        except OSError:  # e.g. a read-only home directory in a container
            ours = Path(tempfile.gettempdir()) / "tokenthrift-tiktoken"
            _write_blob(ours, encoding_name)
    os.environ["TIKTOKEN_CACHE_DIR"] = str(ours)


@cache
def get_encoding(encoding_name: str) -> tiktoken.Encoding:
    """An encoding by name, loaded from the offline cache (never downloaded)."""
    if encoding_name not in _BLOB_URLS:
        raise ValueError(f"no offline copy of encoding {encoding_name!r}")
    with _setup_lock:
        _ensure_blob(encoding_name)
        return tiktoken.get_encoding(encoding_name)


@lru_cache(maxsize=1024)
def encoding_name_for_model(model: str) -> str:
    """``o200k_base`` or ``cl100k_base`` for a model name (provider prefixes ignored)."""
    name = model.lower().rsplit("/", 1)[-1]
    if name.startswith(_O200K_PREFIXES):
        return "o200k_base"
    if name.startswith(_CL100K_PREFIXES):
        return "cl100k_base"
    return "o200k_base"  # unknown models: the encoding of OpenAI's current models


def encoding_for_model(model: str) -> tiktoken.Encoding:
    return get_encoding(encoding_name_for_model(model))


# Counting is memoised because gateways and load tests send the same system prompts
# and messages over and over. Short texts get a large cache; long ones a small one so
# the memory held stays bounded (16k x 2 KB + 32 long prompts).
_SHORT_TEXT = 2048


@lru_cache(maxsize=16384)
def _count_short(encoding_name: str, text: str) -> int:
    return len(get_encoding(encoding_name).encode_ordinary(text))


@lru_cache(maxsize=32)
def _count_long(encoding_name: str, text: str) -> int:
    return len(get_encoding(encoding_name).encode_ordinary(text))


def count_encoded(encoding_name: str, text: str) -> int:
    """Tokens in ``text`` with a named encoding; special-token strings count as text."""
    if not text:
        return 0
    if len(text) <= _SHORT_TEXT:
        return _count_short(encoding_name, text)
    return _count_long(encoding_name, text)


def count_text(text: str, model: str) -> int:
    """Tokens in ``text`` for ``model`` (special-token strings count as plain text)."""
    return count_encoded(encoding_name_for_model(model), text)


def count_chat(messages: Sequence[ChatMessage], model: str, tools_json: str | None = None) -> int:
    """Prompt tokens of a chat request, by OpenAI's documented per-message overhead.

    ``messages`` are ``(role, content)`` or ``(role, content, name)`` tuples;
    ``tools_json`` is the JSON text of the tool definitions (counted as plain text,
    an approximation of OpenAI's hidden tool prompt).
    """
    name = encoding_name_for_model(model)
    total = REPLY_PRIMING_TOKENS
    for message in messages:
        total += (
            TOKENS_PER_MESSAGE + count_encoded(name, message[0]) + count_encoded(name, message[1])
        )
        if len(message) > 2 and message[2]:
            total += count_encoded(name, message[2]) + TOKENS_PER_NAME
    if tools_json:
        total += count_encoded(name, tools_json)
    return total


def chat_token_ids(
    messages: Sequence[ChatMessage], model: str, tools_json: str | None = None
) -> array[int]:
    """The prompt as a token sequence, ``len == count_chat(...)``.

    Tool definitions come first (OpenAI renders them into the system prompt), then each
    message's framing, role, content and name, then the reply priming. Framing tokens
    are negative placeholders: only their position and count matter, e.g. to find the
    longest shared prefix of two prompts for OpenAI's prefix caching.
    """
    encoding = encoding_for_model(model)
    ids: array[int] = array("i")
    if tools_json:
        ids.extend(encoding.encode_ordinary(tools_json))
    for message in messages:
        ids.extend((_FRAME_ID,) * TOKENS_PER_MESSAGE)
        ids.extend(encoding.encode_ordinary(message[0]))
        ids.extend(encoding.encode_ordinary(message[1]))
        if len(message) > 2 and message[2]:
            ids.extend(encoding.encode_ordinary(message[2]))
            ids.append(_NAME_ID)
    ids.extend((_PRIMING_ID,) * REPLY_PRIMING_TOKENS)
    return ids

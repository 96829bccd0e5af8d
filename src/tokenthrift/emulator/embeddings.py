"""OpenAI ``POST /v1/embeddings`` with deterministic, unit-norm vectors.

Vectors come from hashing the text, so identical texts always embed identically. They
are built by feature hashing (each lower-cased word and word pair adds +-1 at a few
hashed positions) plus a small dense component from a hash of the whole text: texts
that share most words get a high cosine similarity and unrelated texts a low one,
which is what a semantic cache needs to be exercised offline. They carry no meaning
beyond word overlap.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import math
import re
from array import array
from typing import Any

from ..tokens import count_text, get_encoding
from .catalog import embedding_dimensions, supports_dimensions
from .replies import Outcome, invalid, json_outcome
from .state import EmulatorState

_WORD = re.compile(r"\w+")
_DENSE_SHARE = 0.1  # fraction of the norm carried by the whole-text component
_POSITIONS_PER_FEATURE = 4


def embeddings(state: EmulatorState, org: str, payload: dict[str, Any]) -> Outcome:
    model = state.require_model(payload.get("model"), "openai")
    texts, tokens = _inputs(payload.get("input"), model)
    dims = _dimensions(payload.get("dimensions"), model)
    encoding_format = payload.get("encoding_format", "float")
    if encoding_format not in ("float", "base64"):
        raise invalid(
            f"Invalid value: '{encoding_format}'. Supported values are: 'float' and 'base64'.",
            param="encoding_format",
            code="invalid_value",
        )
    data = []
    for index, text in enumerate(texts):
        vector = embed(text, dims)
        encoded: Any = vector
        if encoding_format == "base64":
            # OpenAI's base64 format is little-endian float32.
            encoded = base64.b64encode(array("f", vector).tobytes()).decode()
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    body = {"object": "list", "data": data, "model": model, "usage": usage}
    return json_outcome(body, tokens=tokens)


def _inputs(raw: Any, model: str) -> tuple[list[str], int]:
    """Texts to embed and their token count; token-id arrays are decoded first."""
    if raw is None:
        raise invalid(
            "Missing required parameter: 'input'.", param="input", code="missing_required_parameter"
        )
    if isinstance(raw, str) or (
        isinstance(raw, list) and raw and all(isinstance(t, int) for t in raw)
    ):
        raw = [raw]  # one text, or one array of token ids
    if not isinstance(raw, list) or not raw or len(raw) > 2048:
        raise invalid("'$.input' is invalid. Please check the API reference.", param="input")
    texts: list[str] = []
    tokens = 0
    for item in raw:
        if isinstance(item, str) and item:
            texts.append(item)
            tokens += count_text(item, model)
        elif isinstance(item, list) and item and all(isinstance(t, int) for t in item):
            texts.append(get_encoding("cl100k_base").decode(item))
            tokens += len(item)
        else:
            raise invalid("'$.input' is invalid. Please check the API reference.", param="input")
    return texts, tokens


def _dimensions(raw: Any, model: str) -> int:
    native = embedding_dimensions(model)
    if raw is None:
        return native
    if not supports_dimensions(model):
        raise invalid("This model does not support specifying dimensions.", param="dimensions")
    if not isinstance(raw, int) or isinstance(raw, bool) or not 1 <= raw <= native:
        raise invalid(
            f"Invalid 'dimensions': expected an integer between 1 and {native}.",
            param="dimensions",
        )
    return raw


def embed(text: str, dims: int) -> list[float]:
    """A unit-norm vector for ``text``: feature-hashed words plus a whole-text hash."""
    sparse = [0.0] * dims
    words = _WORD.findall(text.lower())
    features = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
    for position, feature in enumerate(features):
        weight = 1.0 if position < len(words) else 0.5
        digest = hashlib.blake2b(feature.encode(), digest_size=16).digest()
        bits = int.from_bytes(digest, "little")  # low 64 bits: slots, high bits: signs
        for k in range(_POSITIONS_PER_FEATURE):
            slot = ((bits >> (16 * k)) & 0xFFFF) % dims
            sparse[slot] += weight if (bits >> (64 + k)) & 1 else -weight
    dense_bytes = hashlib.shake_256(text.encode()).digest(dims)
    dense = [b - 127.5 for b in dense_bytes]
    sparse_norm = math.hypot(*sparse)
    dense_norm = math.hypot(*dense) or 1.0
    if sparse_norm == 0.0:
        return [x / dense_norm for x in dense]
    a = (1.0 - _DENSE_SHARE) / sparse_norm
    b = _DENSE_SHARE / dense_norm
    vector = [a * s + b * d for s, d in zip(sparse, dense, strict=True)]
    norm = math.hypot(*vector)
    return [x / norm for x in vector]

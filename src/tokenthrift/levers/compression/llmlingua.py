"""Optional backend: LLMLingua-2's token classifier, for users who have it on disk.

LLMLingua-2 (Pan et al., 2024; ``microsoft/llmlingua-2-xlm-roberta-large-meetingbank``)
predicts, per token, the probability that a token is worth keeping. It is trained to be
question-agnostic, so here it is *blended* with the lexical scorer: a sentence's score
is its lexical score plus its mean keep-probability. Selection stays sentence-level, so
structure and code handling are the same as with the default backend.

``compression.method: llmlingua2:<dir>`` points at an ONNX export of the model (a folder
holding ``model.onnx`` and ``tokenizer.json``, e.g. what ``optimum-cli export onnx
--task token-classification`` writes). Nothing is downloaded and no new dependency is
needed: onnxruntime and tokenizers already run the semantic cache's embedder.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ...config_section import ConfigError
from .backends import LexicalBackend, Passage

_MAX_TOKENS = 512
_BATCH = 16


class LLMLingua2Backend:
    name = "llmlingua2"

    def __init__(self, model_dir: str, *, weight: float = 1.0, threads: int = 2) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = Path(model_dir)
        model, tokenizer = folder / "model.onnx", folder / "tokenizer.json"
        if not model.is_file() or not tokenizer.is_file():
            raise ConfigError(
                f"compression.method llmlingua2:{model_dir}: need {model} and {tokenizer} "
                "(an ONNX export of an LLMLingua-2 model; nothing is downloaded)"
            )
        self._tokenizer = Tokenizer.from_file(str(tokenizer))
        self._tokenizer.enable_truncation(_MAX_TOKENS)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(model), options,
                                             providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._lexical = LexicalBackend()
        self.weight = weight

    def score(self, question: str, passages: Sequence[Passage]) -> list[list[float]]:
        lexical = self._lexical.score(question, passages)
        units = [u for p in passages for u in p.units]
        keep = self.keep_probabilities(units)
        out: list[list[float]] = []
        offset = 0
        for scores in lexical:
            out.append([s + self.weight * keep[offset + i] for i, s in enumerate(scores)])
            offset += len(scores)
        return out

    def keep_probabilities(self, texts: Sequence[str]) -> list[float]:
        """Mean probability of the "keep" label over each text's word pieces."""
        result: list[float] = []
        for start in range(0, len(texts), _BATCH):
            encodings = self._tokenizer.encode_batch(list(texts[start : start + _BATCH]))
            width = max(len(e.ids) for e in encodings)
            ids = np.zeros((len(encodings), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for row, encoding in enumerate(encodings):
                ids[row, : len(encoding.ids)] = encoding.ids
                mask[row, : len(encoding.ids)] = 1
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            logits = self._session.run(None, {k: v for k, v in feeds.items() if k in self._inputs})[0]
            shifted = logits - logits.max(axis=-1, keepdims=True)
            probs = np.exp(shifted) / np.exp(shifted).sum(axis=-1, keepdims=True)
            keep = probs[..., 1] * mask
            result.extend((keep.sum(axis=1) / np.maximum(mask.sum(axis=1), 1)).tolist())
        return result


__all__ = ["LLMLingua2Backend"]

"""LlamaIndex through tokenthrift: a ``CustomLLM`` over the official ``openai`` SDK,
pointed at the gateway, its calls attributed to a team and a task.

    pip install -e '.[examples]'          # llama-index-core
    tokenthrift serve &
    python examples/llamaindex_app.py

Why not ``llama-index-llms-openai``: it pins ``openai<3`` and this project's SDK is
``openai`` 3.x; ``llama-index-llms-anthropic`` builds ``MessageParam`` objects the
``anthropic`` 2.x SDK no longer allows. A ``CustomLLM`` is LlamaIndex's documented way to
plug in any model, and a dozen lines here; everything built on it (prompt templates,
query engines, chat engines) works unchanged.
"""

from __future__ import annotations

import os
from typing import Any

import openai
from llama_index.core import PromptTemplate
from llama_index.core.llms import (
    CompletionResponse,
    CompletionResponseGen,
    CustomLLM,
    LLMMetadata,
)
from llama_index.core.llms.callbacks import llm_completion_callback

GATEWAY = os.environ.get("TOKENTHRIFT_URL", "http://127.0.0.1:8787")
API_KEY = os.environ.get("TOKENTHRIFT_API_KEY", "sk-local")


class GatewayLLM(CustomLLM):
    """Any model the gateway serves, as a LlamaIndex LLM."""

    model: str = "gpt-4o-mini"
    base_url: str = GATEWAY
    team: str | None = None
    task: str | None = None

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name=self.model, is_chat_model=True)

    def _client(self) -> openai.OpenAI:
        headers = {k: v for k, v in (("x-tokenthrift-team", self.team),
                                     ("x-tokenthrift-task", self.task)) if v}
        return openai.OpenAI(base_url=f"{self.base_url}/v1", api_key=API_KEY,
                             default_headers=headers, max_retries=0)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        with self._client() as client:
            reply = client.chat.completions.create(
                model=self.model, messages=[{"role": "user", "content": prompt}])
        return CompletionResponse(text=reply.choices[0].message.content or "", raw=reply)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False,
                        **kwargs: Any) -> CompletionResponseGen:
        client = self._client()
        stream = client.chat.completions.create(
            model=self.model, messages=[{"role": "user", "content": prompt}], stream=True)

        def gen() -> CompletionResponseGen:
            text = ""
            with client, stream:
                for chunk in stream:
                    delta = chunk.choices[0].delta.content if chunk.choices else None
                    if delta:
                        text += delta
                        yield CompletionResponse(text=text, delta=delta)

        return gen()


QA = PromptTemplate("Context:\n{context}\n\nAnswer the question from the context only.\n"
                    "Question: {question}\n")
CONTEXT = "Refunds are processed within 14 days. Orders ship from Lyon on weekdays."


def main(base_url: str = GATEWAY) -> dict[str, str]:
    llm = GatewayLLM(model="gpt-4o-mini", base_url=base_url, team="research", task="doc-qa")
    answer = llm.complete(QA.format(context=CONTEXT, question="How long do refunds take?"))
    streamed = "".join(r.delta or "" for r in llm.stream_complete(
        QA.format(context=CONTEXT, question="Where do orders ship from?")))
    return {"answer": answer.text, "streamed": streamed}


if __name__ == "__main__":
    for name, text in main().items():
        print(f"{name}: {text}")

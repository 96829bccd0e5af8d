"""The emulator speaks the Responses API (``POST /v1/responses``) to the official SDK, with
the same token counts and rules as its chat endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tokenthrift.emulator import Emulator, Fault, create_app
from tokenthrift.server.runner import ServerThread


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[openai.OpenAI, Emulator]]:
    emulator = Emulator()
    with ServerThread(create_app(emulator)) as server:
        yield openai.OpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0), emulator


def test_responses_usage_matches_the_chat_endpoint(served: tuple[openai.OpenAI, Emulator]
                                                   ) -> None:
    client, _ = served
    message = "Summarise the plan [[emulator:reply=Ship on Friday.]]"
    response = client.responses.create(model="gpt-4o", input=message)
    chat = client.chat.completions.create(model="gpt-4o",
                                          messages=[{"role": "user", "content": message}])
    assert response.output_text == chat.choices[0].message.content == "Ship on Friday."
    assert response.usage is not None and chat.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (
        chat.usage.prompt_tokens, chat.usage.completion_tokens)


def test_reasoning_effort_and_the_stream(served: tuple[openai.OpenAI, Emulator]) -> None:
    client, _ = served
    response = client.responses.create(model="o4-mini", input="hi", reasoning={"effort": "low"})
    assert response.usage is not None
    assert response.usage.output_tokens_details.reasoning_tokens == 64  # the emulator's "low"
    with client.responses.stream(model="gpt-4o", input="[[emulator:reply=a b c]]") as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds.count("response.output_text.delta") == 3  # one per token: "a", " b", " c"
    assert final.output_text == "a b c" and kinds[-1] == "response.completed"


def test_faults_and_unsupported_state(served: tuple[openai.OpenAI, Emulator]) -> None:
    client, emulator = served
    emulator.add_fault(Fault("status", status=503))
    with pytest.raises(openai.InternalServerError):
        client.responses.create(model="gpt-4o", input="x")
    assert client.responses.create(model="gpt-4o", input="x").status == "completed"
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model="gpt-4o", input="x", previous_response_id="resp_1")
    assert refused.value.body["param"] == "previous_response_id"  # type: ignore[index]


def test_reasoning_items_like_openai_without_store(served: tuple[openai.OpenAI, Emulator]
                                                   ) -> None:
    client, _ = served
    answer = client.responses.create(model="o4-mini", input="hi", reasoning={"effort": "low"},
                                     include=["reasoning.encrypted_content"])
    reasoning = answer.output[0]
    assert reasoning.type == "reasoning" and reasoning.encrypted_content
    assert client.responses.create(model="gpt-4o", input="hi").output[0].type == "message"
    sealed: Any = reasoning.model_dump(exclude_none=True)
    follow: Any = [{"role": "user", "content": "hi"}, sealed, {"role": "user", "content": "more"}]
    assert client.responses.create(model="o4-mini", input=follow).status == "completed"
    bare: Any = {k: v for k, v in sealed.items() if k != "encrypted_content"}
    with pytest.raises(openai.NotFoundError):  # nothing stored to refer to
        client.responses.create(model="o4-mini", input=[follow[0], bare, follow[2]])

"""OpenAI ``POST /v1/responses``: the Responses API over the chat emulator.

A Responses request is the same generation as a chat request (same tokenizer counts,
prompt caching, reasoning tokens by effort, tool calls and JSON-schema replies), so it
is translated with the gateway's own wire module, answered by the chat endpoint, and
translated back: a ``response`` object, or the typed event stream (one
``response.output_text.delta`` per generated token, paced like chat chunks).

The emulator keeps no conversation state: ``previous_response_id`` is refused (send
the whole conversation as input items, as with ``store: false``), and nothing can be
retrieved later. As OpenAI does with ``store: false``, a ``reasoning`` input item is
refused unless it carries ``encrypted_content`` (there is no stored item to refer to).

A reasoning model's answer starts with a ``reasoning`` output item (no summary), with
``encrypted_content`` when the request's ``include`` asks for
``reasoning.encrypted_content``, as OpenAI's does; streams carry only the message and
function-call items.

The gateway forwards Responses requests for OpenAI models here (rather than translating
them to chat completions), so ``stats()["by_path"]`` shows which API served a request.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..errors import GatewayError
from ..types import StreamEvent
from ..wire import openai_chat, openai_responses, sse
from .openai_chat import chat_completions
from .replies import ApiError, Outcome, invalid, json_outcome, random_id
from .state import EmulatorState


def responses(state: EmulatorState, org: str, payload: dict[str, Any]) -> Outcome:
    try:
        parsed = openai_responses.parse_request(payload)
    except GatewayError as error:
        raise invalid(error.message, param=error.param) from None
    if parsed.previous_response_id is not None:
        raise invalid("previous_response_id: the emulator keeps no responses; send the "
                      "conversation as input items.", param="previous_response_id")
    _check_reasoning_items(parsed.input_items)
    chat = parsed.chat
    outcome = chat_completions(state, org, openai_chat.build_upstream_request(chat, chat.model))
    response_id = random_id("resp_")
    if outcome.events is None:
        assert outcome.body is not None
        answer = openai_chat.parse_upstream_response(orjson.loads(outcome.body))
        body = openai_responses.render_response(answer, parsed, response_id)
        if answer.usage.reasoning_tokens:
            body["output"].insert(0, _reasoning_item(payload, response_id))
        return json_outcome(body, tokens=outcome.tokens, output_tokens=outcome.output_tokens)
    renderer = openai_responses.ResponsesStreamRenderer(parsed, response_id)
    events = [chunk for event in _chat_events(outcome.events)
              for chunk in renderer.render(event)]
    events.append(renderer.done())
    return Outcome(events=events, tokens=outcome.tokens, output_tokens=outcome.output_tokens)


def _check_reasoning_items(items: list[dict[str, Any]]) -> None:
    for i, item in enumerate(items):
        if item.get("type") == "reasoning" and not item.get("encrypted_content"):
            raise ApiError(404, f"Item with id '{item.get('id')}' not found. Items are not "
                           "persisted when `store` is set to false. Try again with `store` "
                           "set to true, or remove this item from your input.",
                           param=f"input[{i}]")


def _reasoning_item(payload: dict[str, Any], response_id: str) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "reasoning", "id": "rs_" + response_id.removeprefix("resp_"),
                            "summary": []}
    include = payload.get("include")
    if isinstance(include, list) and "reasoning.encrypted_content" in include:
        item["encrypted_content"] = "emulated-" + random_id("", 24)
    return item


def _chat_events(chunks: list[bytes]) -> list[StreamEvent]:
    """The chat endpoint's SSE chunks as canonical stream events."""
    decoder = sse.SSEDecoder()
    parser = openai_chat.UpstreamStreamParser()
    events: list[StreamEvent] = []
    for _name, data in decoder.feed(b"".join(chunks)):
        if data == "[DONE]":
            break
        events.extend(parser.feed(orjson.loads(data)))
    return events

"""``POST /v1/responses`` through the gateway with the official ``openai`` SDK
(``client.responses.create``/``.stream``/``.parse``), the emulator upstream."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import openai
import pytest
from pydantic import BaseModel

from gateway_harness import RunningGateway, config_for, running_gateway

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"], "additionalProperties": False},
}
NO_CACHE = {"x-tokenthrift-cache": "off"}


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with running_gateway(config_for(tmp_path_factory.mktemp("responses"))) as running:
        yield running


def test_create_answers_prices_and_records(gw: RunningGateway) -> None:
    client = gw.openai()
    raw = client.responses.with_raw_response.create(
        model="gpt-4o-mini", input="Say hi [[emulator:reply=hello there]]",
        extra_headers={"x-tokenthrift-team": "search", "x-tokenthrift-task": "triage"})
    response = raw.parse()
    assert response.status == "completed" and response.output_text == "hello there"
    assert response.id == "resp_" + raw.headers["x-tokenthrift-request-id"].removeprefix("req_")
    row = gw.ledger_row(raw.headers["x-tokenthrift-request-id"])
    assert (row.endpoint, row.team, row.task, row.served_model) == (
        "responses", "search", "triage", "gpt-4o-mini")
    usage = response.usage
    assert usage is not None
    assert (row.input_tokens + row.cache_read_tokens, row.output_tokens) == (
        usage.input_tokens, usage.output_tokens)
    assert Decimal(raw.headers["x-tokenthrift-cost-usd"]) == Decimal(str(row.cost_usd)) > 0


def test_instructions_are_part_of_the_prompt(gw: RunningGateway) -> None:
    client = gw.openai()
    plain = client.responses.create(model="gpt-4o-mini", input="hi [[emulator:reply=ok]]",
                                    extra_headers=NO_CACHE)
    briefed = client.responses.create(model="gpt-4o-mini", input="hi [[emulator:reply=ok]]",
                                      instructions="You are a terse assistant for a bank.",
                                      extra_headers=NO_CACHE)
    assert plain.usage is not None and briefed.usage is not None
    assert briefed.usage.input_tokens > plain.usage.input_tokens
    assert briefed.instructions == "You are a terse assistant for a bank."


def test_input_items_with_roles(gw: RunningGateway) -> None:
    response = gw.openai().responses.create(model="gpt-4o-mini", input=[
        {"role": "developer", "content": "Answer in one word."},
        {"role": "user", "content": [{"type": "input_text", "text": "Capital of France?"}]},
        {"role": "assistant", "content": [{"type": "output_text", "text": "Paris."}]},
        {"role": "user", "content": "And Italy? [[emulator:reply=Rome]]"},
    ])
    assert response.output_text == "Rome"


def test_stream_sends_typed_events_and_the_row_matches_its_usage(gw: RunningGateway) -> None:
    client = gw.openai()
    with client.responses.with_streaming_response.create(
            model="gpt-4o-mini", input="[[emulator:reply=one two three]]", stream=True,
            extra_headers=NO_CACHE) as raw:
        request_id = raw.headers["x-tokenthrift-request-id"]
        events = list(raw.parse())
    kinds = [e.type for e in events]
    assert kinds[:4] == ["response.created", "response.in_progress",
                         "response.output_item.added", "response.content_part.added"]
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done",
                          "response.output_item.done", "response.completed"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "one two three"
    final = events[-1].response  # type: ignore[union-attr]
    row = gw.ledger_row(request_id)
    assert row.stream and row.endpoint == "responses"
    assert final.usage is not None and row.output_tokens == final.usage.output_tokens


def test_stream_helper_gives_the_final_response(gw: RunningGateway) -> None:
    with gw.openai().responses.stream(model="gpt-4o-mini",
                                      input="[[emulator:reply=streamed answer]]") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text == "streamed answer"


def test_function_tools_and_tool_outputs_continue_a_stored_response(gw: RunningGateway) -> None:
    client = gw.openai()
    first = client.responses.create(model="gpt-4o", input="Weather in Paris?", tools=[WEATHER],
                                    extra_headers=NO_CACHE)
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "get_weather"
    assert calls[0].arguments == '{"city":"Paris"}' or "city" in calls[0].arguments
    second = client.responses.create(
        model="gpt-4o", previous_response_id=first.id, tools=[WEATHER],
        input=[{"type": "function_call_output", "call_id": calls[0].call_id,
                "output": "sunny, 24C"}],
        extra_headers=NO_CACHE)
    # After a tool result the model answers in text (a forced reply only works in a
    # user turn, so the text itself is the emulator's).
    assert [item.type for item in second.output] == ["message"] and second.output_text
    assert second.previous_response_id == first.id
    # The stored context was sent: the prompt holds the first turn and the call.
    assert second.usage is not None and first.usage is not None
    assert second.usage.input_tokens > first.usage.input_tokens


def test_the_whole_conversation_as_items_without_store(gw: RunningGateway) -> None:
    client = gw.openai()
    first = client.responses.create(model="gpt-4o", input="Weather in Paris?", tools=[WEATHER],
                                    store=False, extra_headers=NO_CACHE)
    call = next(item for item in first.output if item.type == "function_call")
    second = client.responses.create(model="gpt-4o", tools=[WEATHER], store=False, input=[
        {"role": "user", "content": "Weather in Paris?"},
        {"type": "function_call", "call_id": call.call_id, "name": call.name,
         "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id,
         "output": "rain"},
    ])
    assert [item.type for item in second.output] == ["message"] and second.output_text
    # Not stored: it can be neither retrieved nor continued.
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(first.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="gpt-4o", input="more", previous_response_id=first.id)


class Weather(BaseModel):
    city: str
    celsius: int


def test_text_format_json_schema_parses_into_the_model(gw: RunningGateway) -> None:
    parsed = gw.openai().responses.parse(model="gpt-4o", input="Weather in Oslo as JSON",
                                         text_format=Weather)
    assert isinstance(parsed.output_parsed, Weather)
    assert parsed.text.format.type == "json_schema"  # type: ignore[union-attr]


def test_max_output_tokens_ends_the_response_incomplete(gw: RunningGateway) -> None:
    response = gw.openai().responses.create(model="gpt-4o-mini", input="Tell me a story",
                                            max_output_tokens=16, extra_headers=NO_CACHE)
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.usage is not None and response.usage.output_tokens == 16
    assert response.max_output_tokens == 16


def test_reasoning_effort_reaches_the_model_and_is_billed_as_output(gw: RunningGateway) -> None:
    client = gw.openai()
    low = client.responses.with_raw_response.create(
        model="o4-mini", input="Plan a trip [[emulator:reply=Go to Lyon.]]",
        reasoning={"effort": "low"}, extra_headers=NO_CACHE)
    high = client.responses.create(model="o4-mini", input="Plan a trip [[emulator:reply=Go.]]",
                                   reasoning={"effort": "high"}, extra_headers=NO_CACHE)
    low_usage, high_usage = low.parse().usage, high.usage
    assert low_usage is not None and high_usage is not None
    low_reasoning = low_usage.output_tokens_details.reasoning_tokens
    assert 0 < low_reasoning < high_usage.output_tokens_details.reasoning_tokens
    row = gw.ledger_row(low.headers["x-tokenthrift-request-id"])
    assert row.reasoning_tokens == low_reasoning
    assert row.output_tokens == low_usage.output_tokens  # reasoning included, once
    # o4-mini: $1.10/MTok input, $4.40/MTok output (reasoning is output).
    expected = (Decimal(low_usage.input_tokens) * Decimal("1.10")
                + Decimal(low_usage.output_tokens) * Decimal("4.40")) / 1_000_000
    assert Decimal(low.headers["x-tokenthrift-cost-usd"]) == expected


def test_a_claude_model_answers_a_responses_request(gw: RunningGateway) -> None:
    client = gw.openai()
    raw = client.responses.with_raw_response.create(
        model="claude-haiku-4-5", instructions="Be brief.",
        input="Hi [[emulator:reply=Hello from Claude]]")
    assert raw.parse().output_text == "Hello from Claude"
    row = gw.ledger_row(raw.headers["x-tokenthrift-request-id"])
    assert (row.served_model, row.provider, row.endpoint) == ("claude-haiku-4-5", "emulator",
                                                               "responses")
    with client.responses.stream(model="claude-haiku-4-5", input="Weather in Rome?",
                                 tools=[WEATHER], tool_choice="required") as stream:
        final = stream.get_final_response()
    call = final.output[-1]
    assert call.type == "function_call" and call.name == "get_weather"


def test_retrieve_and_delete_a_stored_response(gw: RunningGateway) -> None:
    client = gw.openai()
    created = client.responses.create(model="gpt-4o-mini", input="[[emulator:reply=kept]]")
    assert client.responses.retrieve(created.id).output_text == "kept"
    client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(created.id)


def test_stored_responses_belong_to_the_key_that_made_them(gw: RunningGateway) -> None:
    mine = gw.openai()
    other = openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-someone-else", max_retries=0)
    created = mine.responses.create(model="gpt-4o-mini", input="[[emulator:reply=private]]")
    assert mine.responses.retrieve(created.id).output_text == "private"  # positive control
    with pytest.raises(openai.NotFoundError):
        other.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        other.responses.create(model="gpt-4o-mini", input="go on",
                               previous_response_id=created.id)


def test_bad_requests_are_400s_naming_the_field(gw: RunningGateway) -> None:
    client = gw.openai()
    with pytest.raises(openai.BadRequestError) as no_input:
        client.responses.create(model="gpt-4o-mini", input=[])
    assert no_input.value.body["param"] == "input"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as hosted:
        client.responses.create(model="gpt-4o-mini", input="x",
                                tools=[{"type": "web_search"}])  # type: ignore[list-item]
    assert hosted.value.body["param"] == "tools[0].type"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="gpt-4o-mini", input=[{"type": "item_reference",
                                                             "id": "x"}])


def test_an_unknown_previous_response_is_404_and_writes_no_row(tmp_path_factory:
                                                               pytest.TempPathFactory) -> None:
    with running_gateway(config_for(tmp_path_factory.mktemp("prev"))) as running:
        with pytest.raises(openai.NotFoundError) as missing:
            running.openai().responses.create(model="gpt-4o-mini", input="x",
                                              previous_response_id="resp_nope")
        assert missing.value.body["code"] == "previous_response_not_found"  # type: ignore[index]
        running.gateway.writer.flush()
        assert running.gateway.ledger.rows() == []

"""The compression lever on canonical requests: what it may shrink, what it never
touches, what it records, and how its saving is priced."""

from __future__ import annotations

import copy
import gzip
import json
from collections.abc import Mapping
from pathlib import Path

import pytest
from click.testing import CliRunner

from compression_fixtures import PASSAGES, context
from tokenthrift.cli.main import cli
from tokenthrift.config import GatewayConfig
from tokenthrift.config_section import ConfigError
from tokenthrift.errors import GatewayError
from tokenthrift.exchange import Exchange
from tokenthrift.levers.base import Billable
from tokenthrift.levers.compression import Compressor
from tokenthrift.levers.compression.lever import CompressionLever
from tokenthrift.levers.compression.request import compress_request, request_tokens, split_question
from tokenthrift.levers.compression.settings import CompressionSettings
from tokenthrift.types import Attribution, ChatRequest, Message, TextPart, Tool, Usage

SYSTEM = "You are a careful assistant.   Answer only from the documents.\n\n\nBe brief."
QUESTION = "Question: who built the sydney harbour bridge?"


def rag_request(**extra: object) -> ChatRequest:
    return ChatRequest(
        model="gpt-4o",
        messages=[
            Message("system", [TextPart(SYSTEM)]),
            Message("user", [TextPart(f"{context()}\n\n{QUESTION}")]),
        ],
        tools=[Tool("lookup", "Look a  word   up.", {"type": "object"})],
        **extra,  # type: ignore[arg-type]
    )


def exchange_for(request: ChatRequest, directives: dict[str, str] | None = None) -> Exchange:
    return Exchange(request=request, attribution=Attribution(), requested_model=request.model,
                    wire_format="openai", endpoint="/v1/chat/completions",
                    directives=directives or {})


def lever(**settings: object) -> CompressionLever:
    values: dict[str, object] = {"enabled": True, "target_ratio": 0.3, "min_tokens": 50}
    values.update(settings)
    return CompressionLever(CompressionSettings(**values), Compressor())  # type: ignore[arg-type]


def test_split_question_takes_the_last_question_line_or_paragraph() -> None:
    assert split_question("ctx one\n\nctx two\n\nQuestion: why?\nAnswer:") == (
        "ctx one\n\nctx two", "Question: why?\nAnswer:")
    assert split_question("long context\n\nwhat now?") == ("long context", "what now?")
    assert split_question("just a question?") == ("", "just a question?")


def test_rag_context_shrinks_and_keeps_the_answer_system_tools_and_question() -> None:
    request = rag_request()
    done = compress_request(request, Compressor(), 0.25)
    assert done is not None
    new = done.request
    assert new.messages[0] is request.messages[0]  # the system prompt is the same object
    assert new.tools == request.tools
    text = new.messages[1].text
    assert "Dorman Long" in text
    assert text.endswith(QUESTION)
    assert done.compressible_after <= 0.25 * done.compressible_before
    assert request_tokens(new, "gpt-4o") < 0.5 * request_tokens(request, "gpt-4o")


@pytest.mark.parametrize("layout", [0, 1])
def test_the_instruction_before_the_documents_and_the_question_after_them_are_kept(
    layout: int,
) -> None:
    docs = context().replace("](Title:", "] (Title:")
    instruction, question = (
        ("Write a high-quality answer for the given question using only the provided "
         "search results.", "Question: how many moons does saturn have\nAnswer:")
        if layout == 0
        else ("Using only the search results below, answer briefly.",
              "Based on these documents, how many moons does saturn have?")
    )
    request = ChatRequest(model="gpt-4o", messages=[
        Message("user", [TextPart(f"{instruction}\n\n{docs}\n\n{question}")])])
    done = compress_request(request, Compressor(), 0.2)
    assert done is not None
    text = done.request.messages[0].text
    assert text.startswith(instruction + "\n\nDocument [")
    assert text.endswith(question)
    assert "146 moons" in text
    assert len(text) < 0.4 * len(request.messages[0].text)


def test_the_original_request_is_never_mutated() -> None:
    request = rag_request()
    snapshot = copy.deepcopy(request)
    done = compress_request(request, Compressor(), 0.2)
    assert done is not None and done.request is not request
    assert request == snapshot


def test_everything_up_to_the_clients_cache_breakpoint_is_untouched() -> None:
    document = context()
    request = ChatRequest(model="claude-sonnet-4-5", messages=[
        Message("system", [TextPart(SYSTEM)]),
        Message("user", [TextPart(document, cache_control="5m"), TextPart(f"{document}\n\nwho built the bridge?")]),
    ])
    done = compress_request(request, Compressor(), 0.2)
    assert done is not None
    parts = done.request.messages[1].content
    assert parts[0] is request.messages[1].content[0]
    assert len(parts[1].text) < len(document) / 2  # type: ignore[union-attr]
    unprotected = compress_request(request, Compressor(), 0.2, protect_prefix=False)
    assert unprotected is not None
    assert unprotected.request.messages[0].text != SYSTEM  # positive control: now it may shrink
    assert len(unprotected.request.messages[1].content[0].text) < len(document)  # type: ignore[union-attr]


def test_tool_results_and_code_in_the_context_are_untouched() -> None:
    tool_result = json.dumps({"rows": [{"name": "Saturn", "moons": 146}]}, indent=2)
    code = "```sql\nSELECT  name,   moons\nFROM planets;\n```"
    request = ChatRequest(model="gpt-4o", messages=[
        Message("user", [TextPart("look up saturn")]),
        Message("assistant", [], tool_calls=[]),
        Message("tool", [TextPart(tool_result)], tool_call_id="call_1"),
        Message("user", [TextPart(f"{context()}\n\n{code}\n\nhow many moons does saturn have?")]),
    ])
    done = compress_request(request, Compressor(), 0.2)
    assert done is not None
    assert done.request.messages[2].text == tool_result
    assert code in done.request.messages[3].text
    assert "146 moons" in done.request.messages[3].text


def test_old_turns_shrink_but_never_vanish() -> None:
    history = [Message("user" if i % 2 == 0 else "assistant", [TextPart(PASSAGES[i][1])])
               for i in range(6)]
    request = ChatRequest(model="gpt-4o", messages=[
        *history, Message("user", [TextPart("how high is the summit of kilimanjaro?")])])
    done = compress_request(request, Compressor(), 0.3)
    assert done is not None
    assert [m.role for m in done.request.messages] == [m.role for m in request.messages]
    assert all(m.text for m in done.request.messages)
    assert "5,895 metres" in done.request.messages[3].text
    assert compress_request(request, Compressor(), 0.3, history=False) is None


async def test_rewrite_replaces_the_request_and_records_tokens_for_the_ledger() -> None:
    request = rag_request()
    exchange = exchange_for(request)
    await lever().rewrite(exchange)
    assert exchange.request is not request and exchange.original_request is request
    note = exchange.ledger_notes["compression"]
    assert note["input_tokens_before"] == request_tokens(request, "gpt-4o")
    assert exchange.request is not None
    assert note["input_tokens_after"] == request_tokens(exchange.request, "gpt-4o")
    assert note["input_tokens_after"] < note["input_tokens_before"]
    assert note["ratio_target"] == 0.3


async def test_unwind_prices_the_removed_tokens_as_uncached_input_of_the_served_model() -> None:
    exchange = exchange_for(rag_request())
    the_lever = lever()
    await the_lever.rewrite(exchange)
    note = exchange.ledger_notes["compression"]
    after = Billable(model="gpt-4o-mini", usage=Usage(input_tokens=400, cache_read_tokens=100,
                                                      output_tokens=20), provider="openai")
    unwound = the_lever.unwind(exchange, after)
    assert unwound is not None and unwound.lever == "compression"
    removed = note["input_tokens_before"] - note["input_tokens_after"]
    assert removed > 0
    assert unwound.before.model == "gpt-4o-mini" and unwound.before.provider == "openai"
    assert unwound.before.usage.input_tokens == 400 + removed
    assert unwound.before.usage.cache_read_tokens == 100
    assert unwound.before.usage.output_tokens == 20


@pytest.mark.parametrize("header", ["off", "OFF", "1", "1.0"])
async def test_header_switches_compression_off(header: str) -> None:
    request = rag_request()
    exchange = exchange_for(request, {"x-tokenthrift-compress": header})
    the_lever = lever()
    await the_lever.rewrite(exchange)
    assert exchange.request is request
    assert "compression" not in exchange.ledger_notes
    assert the_lever.unwind(exchange, Billable(model="gpt-4o", usage=Usage(10))) is None


async def test_header_ratio_overrides_the_configured_one() -> None:
    gentle, hard = exchange_for(rag_request()), exchange_for(
        rag_request(), {"x-tokenthrift-compress": "0.15"})
    await lever(target_ratio=0.8).rewrite(gentle)
    await lever(target_ratio=0.8).rewrite(hard)
    assert (hard.ledger_notes["compression"]["input_tokens_after"]
            < gentle.ledger_notes["compression"]["input_tokens_after"])
    assert hard.ledger_notes["compression"]["ratio_target"] == 0.15


@pytest.mark.parametrize("header", ["0", "-0.5", "1.5", "half", ""])
async def test_bad_header_is_a_400_naming_the_header(header: str) -> None:
    exchange = exchange_for(rag_request(), {"x-tokenthrift-compress": header})
    with pytest.raises(GatewayError) as raised:
        await lever().rewrite(exchange)
    assert raised.value.status == 400 and "x-tokenthrift-compress" in raised.value.message


async def test_short_requests_are_left_alone() -> None:
    request = rag_request()
    exchange = exchange_for(request)
    await lever(min_tokens=100_000).rewrite(exchange)
    assert exchange.request is request


def test_settings_are_validated_with_the_key_named() -> None:
    def parse(section: Mapping[str, object]) -> CompressionSettings:
        return CompressionSettings.from_config(GatewayConfig(providers={}, models=[], levers={"compression": dict(section)}))

    assert parse({}).enabled is False
    assert parse({"enabled": True, "target_ratio": 0.4}).target_ratio == 0.4
    cases: list[tuple[Mapping[str, object], str]] = [
        ({"target_ratio": 2}, "compression.target_ratio"),
        ({"ratio": 0.5}, "compression.ratio: unknown key 'ratio'"),
        ({"method": "gzip"}, "compression.method"),
        ({"min_tokens": -1}, "compression.min_tokens"),
    ]
    for bad, where in cases:
        with pytest.raises(ConfigError, match=where.replace(".", r"\.")):
            parse(bad)


def test_cli_compresses_a_file_and_prints_the_counts(tmp_path: Path) -> None:
    path = tmp_path / "context.txt"
    path.write_text(context())
    result = CliRunner().invoke(cli, ["compress", str(path), "--question",
                                      "when did fleming discover penicillin", "--ratio", "0.2",
                                      "--format", "json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert "1928" in body["text"] and body["tokens_after"] <= 0.2 * body["tokens_before"]


def test_cli_eval_reports_exactly_the_documented_fields(tmp_path: Path) -> None:
    data = tmp_path / "qa.jsonl.gz"
    with gzip.open(data, "wt") as handle:
        for title, text in PASSAGES:
            answer = text.split(". ")[1].split()[-1].rstrip(".")
            row = {"question": f"what about {title.lower()}", "answers": [answer],
                   "ctxs": [{"title": title, "text": text, "hasanswer": True, "isgold": True}]}
            handle.write(json.dumps(row) + "\n")
    result = CliRunner().invoke(cli, ["compress", "eval", "--data", str(data), "--passages", "5",
                                      "--ratio", "0.5", "--seed", "3", "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report) == {"n", "ratio_target", "achieved_ratio", "answer_retention",
                           "answer_retention_uncompressed", "ms_per_1k_tokens", "baselines"}
    assert set(report["baselines"]) == {"truncate", "random"}
    assert report["n"] == len(PASSAGES) and report["ratio_target"] == 0.5
    assert report["answer_retention_uncompressed"] == 1.0
    assert 0.3 <= report["achieved_ratio"] <= 0.5

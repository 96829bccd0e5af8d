"""The emulator's answer tags: each answer names the request it was generated for, at no
cost, and the bench upstream keeps the trace's clock."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from starlette.testclient import TestClient

from tokenthrift.bench.upstream import create_upstream
from tokenthrift.emulator import Emulator, EmulatorConfig
from tokenthrift.emulator.answer_tags import find_tag

OPENAI = {"authorization": "Bearer k"}
ANTHROPIC = {"x-api-key": "k", "anthropic-version": "2023-06-01"}


def call(emulator: Emulator, path: str, headers: dict[str, str], body: dict[str, Any]) -> Any:
    reply = asyncio.run(emulator.handle("POST", path, headers, orjson.dumps(body)))
    return orjson.loads(reply.body or b"{}")


def chat(model: str, text: str) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "system", "content": "Be brief."},
                                         {"role": "user", "content": text}]}


def test_tagged_answers_name_their_request_and_bill_the_same_tokens() -> None:
    plain, tagging = Emulator(), Emulator(EmulatorConfig(tag_answers=True))
    body = chat("gpt-4o", "What is 2+2?")
    untagged = call(plain, "/v1/chat/completions", OPENAI, body)
    tagged = call(tagging, "/v1/chat/completions", OPENAI, body)
    assert find_tag(untagged["choices"][0]["message"]["content"]) is None  # off by default
    text = tagged["choices"][0]["message"]["content"]
    tag = find_tag(text)
    assert tag is not None and text.endswith(untagged["choices"][0]["message"]["content"])
    assert tagged["usage"] == untagged["usage"]
    assert tagging.answer(tag) == {"tag": tag, "model": "gpt-4o", "protocol": "openai",
                                   "prompt": "Be brief.\nWhat is 2+2?"}
    again = call(tagging, "/v1/chat/completions", OPENAI, body)
    other = call(tagging, "/v1/chat/completions", OPENAI, chat("gpt-4o", "What is 3+3?"))
    assert find_tag(again["choices"][0]["message"]["content"]) == tag
    assert find_tag(other["choices"][0]["message"]["content"]) != tag


def test_anthropic_answers_are_tagged_with_the_system_prompt_recorded() -> None:
    emulator = Emulator(EmulatorConfig(tag_answers=True))
    body = {"model": "claude-haiku-4-5", "max_tokens": 100, "system": "Be brief.",
            "messages": [{"role": "user", "content": "Name a prime."}]}
    message = call(emulator, "/v1/messages", ANTHROPIC, body)
    tag = find_tag(message["content"][0]["text"])
    assert tag is not None
    assert emulator.answer(tag)["prompt"] == "Be brief.\nName a prime."  # type: ignore[index]


def test_the_bench_upstream_serves_answers_and_moves_only_forward_in_time() -> None:
    client = TestClient(create_upstream())
    assert client.post("/bench/clock", json={"now": 120}).json() == {"now": 120}
    assert client.post("/bench/clock", json={"now": 60}).json() == {"now": 120}
    assert client.post("/bench/clock", json={}).status_code == 400
    reply = client.post("/v1/chat/completions", headers=OPENAI, json=chat("gpt-4o", "Hi"))
    tag = find_tag(reply.json()["choices"][0]["message"]["content"])
    assert client.get(f"/emulator/answers/{tag}").json()["model"] == "gpt-4o"
    assert client.get("/emulator/answers/0000000000000000").status_code == 404

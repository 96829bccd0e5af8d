"""Cascades (FrugalGPT): answer with the cheapest model first and escalate to the next
when its answer fails a check.

```yaml
routing:
  cascade:
    models: [gpt-4o-mini, gpt-4o]    # cheapest first; the last one answers whatever it says
    accept:                          # every check is on unless switched off
      refusal: true                  # "I can't help with that…", or finish content_filter
      empty: true                    # no text and no tool call
      truncated: true                # cut off by max_tokens (finish_reason length)
      json: true                     # a JSON response_format answered with invalid JSON
                                     # (json_schema: also checked against the schema)
      tool_arguments: true           # tool-call arguments that are not JSON or break the
                                     # tool's parameter schema, or an unknown tool
      min_mean_logprob: -0.7         # optional: below this mean token logprob (only when
                                     # the upstream returns logprobs: OpenAI protocol)
      must_match: '\\bANSWER:'       # optional regex the answer must contain
      must_not_match: '(?i)as an ai' # optional regex the answer must not contain
```

The check (``AcceptRules.check``) sees the canonical response; a rejection reason is
one of ``refusal``, ``empty``, ``truncated``, ``invalid_json``, ``invalid_tool_arguments``,
``low_logprob``, ``must_match``, ``must_not_match`` (dispatch adds ``error:<status>``
for a step whose every candidate failed upstream).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ...config_section import (
    ConfigError,
    boolean,
    check_keys,
    expected,
    mapping,
    number,
    optional_text,
    text_list,
)
from ...types import ChatRequest, ChatResponse, Choice
from .schema import violation

CASCADE_MODEL = "cascade"  # the model name that asks for the cascade
_KEYS = ("models", "accept")
_ACCEPT_KEYS = ("refusal", "empty", "truncated", "json", "tool_arguments", "min_mean_logprob",
                "must_match", "must_not_match")
# The opening of a refusal, as the major chat models phrase it (matched on the first
# 300 characters only: a long answer that mentions "I cannot" later is an answer).
_REFUSAL = re.compile(
    r"^\W*(?:(?:i'?m|i am)\s+(?:really\s+|very\s+)?sorry|sorry|i\s+apologi[sz]e|unfortunately)?"
    r"[\s,.!]*(?:but\s+)?(?:i\s+(?:can(?:no|')t|cannot|can\s+not|won'?t|will\s+not|"
    r"am\s+(?:not\s+able|unable)|'m\s+(?:not\s+able|unable)|must\s+decline)|"
    r"i'm\s+(?:not\s+able|unable))\s+(?:to\s+)?"
    r"(?:help|assist|comply|provide|do\s+that|answer|fulfil|support|create|generate|engage)",
    re.IGNORECASE)
_REFUSAL_WINDOW = 300


def looks_like_refusal(text: str) -> bool:
    return _REFUSAL.search(text[:_REFUSAL_WINDOW].replace("\u2019", "'")) is not None


@dataclass(frozen=True, slots=True)
class AcceptRules:
    refusal: bool = True
    empty: bool = True
    truncated: bool = True
    json: bool = True
    tool_arguments: bool = True
    min_mean_logprob: float | None = None
    must_match: re.Pattern[str] | None = None
    must_not_match: re.Pattern[str] | None = None

    def check(self, request: ChatRequest, response: ChatResponse) -> str | None:
        """Why ``response`` should be escalated, or None to accept it."""
        if not response.choices:
            return "empty" if self.empty else None
        for choice in response.choices:
            reason = self._choice(request, choice)
            if reason is not None:
                return reason
        if self.min_mean_logprob is not None:
            mean = response.extra.get("mean_logprob")
            if isinstance(mean, int | float) and mean < self.min_mean_logprob:
                return "low_logprob"
        return None

    def _choice(self, request: ChatRequest, choice: Choice) -> str | None:
        message = choice.message
        text = message.text
        if self.empty and not text.strip() and not message.tool_calls:
            return "empty"
        if self.truncated and choice.finish_reason == "length":
            return "truncated"
        if self.refusal and (choice.finish_reason == "content_filter" or looks_like_refusal(text)):
            return "refusal"
        if self.json and not message.tool_calls and not json_answer_ok(request, text):
            return "invalid_json"
        if self.tool_arguments and message.tool_calls and not tool_calls_ok(request, choice):
            return "invalid_tool_arguments"
        if self.must_match is not None and self.must_match.search(text) is None:
            return "must_match"
        if self.must_not_match is not None and self.must_not_match.search(text) is not None:
            return "must_not_match"
        return None


def json_answer_ok(request: ChatRequest, text: str) -> bool:
    """True unless the request asked for JSON and ``text`` is not (or breaks the schema)."""
    response_format = request.response_format or {}
    kind = response_format.get("type")
    if kind not in ("json_object", "json_schema"):
        return True
    value = _json(text)
    if value is _INVALID:
        return False
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        return violation(value, spec.get("schema") if isinstance(spec, dict) else None) is None
    return isinstance(value, dict)  # json_object mode answers an object


def tool_calls_ok(request: ChatRequest, choice: Choice) -> bool:
    tools = {tool.name: tool for tool in request.tools}
    for call in choice.message.tool_calls:
        tool = tools.get(call.name)
        if tool is None and tools:
            return False  # a tool the request does not offer
        value = _json(call.arguments or "{}")
        if value is _INVALID or not isinstance(value, dict):
            return False
        if tool is not None and violation(value, tool.parameters) is not None:
            return False
    return True


_INVALID = object()


def _json(text: str) -> Any:
    candidate = text.strip()
    if candidate.startswith("```"):  # a fenced block is how models often wrap JSON
        candidate = candidate.strip("`").removeprefix("json").strip()
    try:
        return json.loads(candidate)
    except ValueError:
        return _INVALID


@dataclass(frozen=True, slots=True)
class CascadeSettings:
    models: tuple[str, ...]
    accept: AcceptRules = AcceptRules()


def parse_cascade(raw: Any, where: str = "routing.cascade") -> CascadeSettings | None:
    values = mapping(raw, where)
    if not values:
        return None
    check_keys(values, _KEYS, where)
    models = tuple(text_list(values.get("models"), f"{where}.models", what="a list of model names"))
    if len(models) < 2:
        raise expected(f"{where}.models", "at least two model names, cheapest first",
                       values.get("models"))
    if len(set(models)) != len(models):
        raise ConfigError(f"{where}.models: a model appears twice in {list(models)}")
    return CascadeSettings(models, _accept(values.get("accept"), f"{where}.accept"))


def _accept(raw: Any, where: str) -> AcceptRules:
    values = mapping(raw, where)
    check_keys(values, _ACCEPT_KEYS, where)
    flags = {key: boolean(values.get(key, True), f"{where}.{key}")
             for key in ("refusal", "empty", "truncated", "json", "tool_arguments")}
    logprob = values.get("min_mean_logprob")
    return AcceptRules(
        **flags,
        min_mean_logprob=None if logprob is None else number(logprob, f"{where}.min_mean_logprob"),
        must_match=_regex(values.get("must_match"), f"{where}.must_match"),
        must_not_match=_regex(values.get("must_not_match"), f"{where}.must_not_match"),
    )


def _regex(raw: Any, where: str) -> re.Pattern[str] | None:
    pattern = optional_text(raw, where)
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"{where}: not a valid regular expression ({exc}): {pattern!r}") from None


__all__ = ["CASCADE_MODEL", "AcceptRules", "CascadeSettings", "looks_like_refusal",
           "parse_cascade"]

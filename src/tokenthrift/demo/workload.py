"""The built-in demo workload: a seeded, deterministic mix of real wire-format requests.

Four teams call six models for four customers, in both wire formats (including OpenAI
requests for Claude models and Anthropic requests for GPT models, which the gateway
translates). The mix is shaped like real traffic so each cost lever has something to
act on: exact repeats (exact cache), reworded questions (semantic cache), easy tasks
sent to big models (routing), and long shared system prompts — a support policy and an
engineering handbook, both well over 1,500 tokens — that the providers bill at the
cached rate once the prefix is warm (Anthropic only where ``cache_control`` marks it).
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field
from typing import Any, Literal

from .content import ENGINEERING_HANDBOOK, SUPPORT_POLICY, TOPICS

WireFormat = Literal["openai", "anthropic"]
Kind = Literal["fresh", "repeat", "reworded"]

OPENAI_PATH = "/v1/chat/completions"
ANTHROPIC_PATH = "/v1/messages"
ANTHROPIC_VERSION = "2023-06-01"
DEMO_API_KEY = "tt-demo-key"

CUSTOMERS = ("acme", "globex", "initech", "umbrella")
CUSTOMER_WEIGHTS = (4, 3, 2, 1)
# Output caps per task type: a label needs a few tokens, code a few hundred.
MAX_TOKENS = {"classification": 16, "extraction": 120, "summarization": 160, "chat": 240,
              "code": 320}  # fmt: skip
REPEAT_RATE = 0.12
REWORD_RATE = 0.12


@dataclass(frozen=True, slots=True)
class Route:
    """One way a team calls a model: which wire format, and with which system prompt."""

    model: str
    wire: WireFormat
    weight: int
    long_prompt: bool = False
    cache_control: bool = False


@dataclass(frozen=True, slots=True)
class Team:
    name: str
    tasks: tuple[tuple[str, int], ...]
    routes: tuple[Route, ...]
    system: str
    stream_rate: float
    feature: str


@dataclass(slots=True)
class DemoRequest:
    """One HTTP request of the workload, ready to send."""

    index: int
    wire: WireFormat
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    team: str
    customer: str
    model: str
    task: str
    stream: bool
    long_prompt: bool
    kind: Kind = "fresh"
    topic: tuple[str, int] = ("", 0)
    attribution_in_metadata: bool = False
    tags: list[str] = field(default_factory=list)


# Who calls which model how. Easy tasks on big models and repeated questions are there
# on purpose: that is the spend the levers exist to cut.
TEAMS: tuple[Team, ...] = (
    Team("support", tasks=(("chat", 6), ("classification", 3), ("summarization", 2)),
         routes=(Route("claude-sonnet-4-5", "anthropic", 4, long_prompt=True, cache_control=True),
                 Route("gpt-4o-mini", "openai", 3, long_prompt=True),
                 Route("claude-haiku-4-5", "openai", 2),
                 Route("gpt-4o", "anthropic", 1, long_prompt=True)),
         system="", stream_rate=0.3, feature="ticket-assist"),
    Team("search", tasks=(("extraction", 4), ("classification", 3), ("summarization", 2)),
         routes=(Route("gpt-4.1-mini", "openai", 4),
                 Route("gpt-4o-mini", "openai", 3),
                 Route("claude-haiku-4-5", "anthropic", 2)),
         system="You turn customer text into structured data for the search index. "
                "Answer with the requested format only.",
         stream_rate=0.1, feature="query-understanding"),
    Team("growth", tasks=(("chat", 3), ("summarization", 3), ("classification", 1)),
         routes=(Route("gpt-4o", "openai", 3),
                 Route("claude-sonnet-4-5", "openai", 3),
                 Route("gpt-4o-mini", "anthropic", 2)),
         system="You are the growth team's writing assistant: clear, upbeat, no jargon.",
         stream_rate=0.25, feature="campaigns"),
    Team("platform", tasks=(("code", 5), ("extraction", 1), ("summarization", 1)),
         routes=(Route("o4-mini", "openai", 3, long_prompt=True),
                 Route("claude-sonnet-4-5", "anthropic", 3, long_prompt=True, cache_control=True),
                 Route("gpt-4.1-mini", "anthropic", 2, long_prompt=True)),
         system="", stream_rate=0.35, feature="code-review"),
)
# fmt: on

_TIERS = {"acme": "enterprise", "globex": "business", "initech": "team", "umbrella": "starter"}
_PRIOR_TURN = ("Hi, I have a question about our account.", "Of course - what can I help with?")


@dataclass(frozen=True, slots=True)
class _Draw:
    """The random choices behind one request; rendering a draw is deterministic."""

    team: Team
    route: Route
    task: str
    topic: int
    phrasing: int
    customer: str
    user: str
    stream: bool
    via_metadata: bool
    multi_turn: bool
    # OpenAI streams: whether the client asks for usage (many clients don't; the gateway
    # must account for the stream either way).
    stream_usage: bool


def build_workload(n: int, seed: int = 7) -> list[DemoRequest]:
    """``n`` requests; the same ``n`` and ``seed`` always give the same workload."""
    rng = random.Random(seed)
    teams = _team_order(n, rng)
    draws: list[_Draw] = []
    workload: list[DemoRequest] = []
    for index in range(n):
        draw, kind = _next_draw(teams[index], draws, rng)
        draws.append(draw)
        workload.append(_render(index, draw, kind))
    return workload


def _team_order(n: int, rng: random.Random) -> list[Team]:
    """Teams in shuffled blocks, so even a small workload has every team in it."""
    order: list[Team] = []
    while len(order) < n:
        block = list(TEAMS)
        rng.shuffle(block)
        order.extend(block)
    return order[:n]


def _next_draw(team: Team, seen: list[_Draw], rng: random.Random) -> tuple[_Draw, Kind]:
    roll = rng.random()
    if seen and roll < REPEAT_RATE:
        return rng.choice(seen), "repeat"
    rewordable = [d for d in seen if len(TOPICS[d.task][d.topic]) > 1]
    if rewordable and roll < REPEAT_RATE + REWORD_RATE:
        draw = rng.choice(rewordable)
        phrasings = len(TOPICS[draw.task][draw.topic])
        phrasing = (draw.phrasing + rng.randrange(1, phrasings)) % phrasings
        return dataclasses.replace(draw, phrasing=phrasing), "reworded"
    return _fresh_draw(team, rng), "fresh"


def _fresh_draw(team: Team, rng: random.Random) -> _Draw:
    task = _weighted(rng, team.tasks)
    route = rng.choices(team.routes, weights=[r.weight for r in team.routes])[0]
    topic = rng.randrange(len(TOPICS[task]))
    customer = rng.choices(CUSTOMERS, weights=CUSTOMER_WEIGHTS)[0]
    return _Draw(
        team=team,
        route=route,
        task=task,
        topic=topic,
        phrasing=rng.randrange(len(TOPICS[task][topic])),
        customer=customer,
        user=f"u-{customer}-{rng.randint(1, 5):02d}",
        stream=rng.random() < team.stream_rate,
        via_metadata=rng.random() < 0.15,
        multi_turn=task == "chat" and rng.random() < 0.3,
        stream_usage=rng.random() < 0.5,
    )


def _weighted(rng: random.Random, choices: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


def _render(index: int, draw: _Draw, kind: Kind) -> DemoRequest:
    route = draw.route
    tags = [f"feature:{draw.team.feature}", f"tier:{_TIERS[draw.customer]}", "demo"]
    if route.wire == "openai":
        headers, body = _openai_request(draw, tags)
    else:
        headers, body = _anthropic_request(draw, tags)
    return DemoRequest(
        index=index,
        wire=route.wire,
        path=OPENAI_PATH if route.wire == "openai" else ANTHROPIC_PATH,
        headers=headers,
        body=body,
        team=draw.team.name,
        customer=draw.customer,
        model=route.model,
        task=draw.task,
        stream=draw.stream,
        long_prompt=route.long_prompt,
        kind=kind,
        topic=(draw.task, draw.topic),
        attribution_in_metadata=draw.via_metadata,
        tags=tags,
    )


def system_prompt(team: Team, route: Route) -> str:
    if route.long_prompt:
        return SUPPORT_POLICY if team.name == "support" else ENGINEERING_HANDBOOK
    return team.system or f"You are a concise assistant for the {team.name} team."


def _turns(draw: _Draw) -> list[tuple[str, str]]:
    question = TOPICS[draw.task][draw.topic][draw.phrasing]
    turns = [("user", _PRIOR_TURN[0]), ("assistant", _PRIOR_TURN[1])] if draw.multi_turn else []
    return [*turns, ("user", question)]


def _attribution_headers(draw: _Draw, tags: list[str], *, user: bool) -> dict[str, str]:
    headers = {
        "x-tokenthrift-team": draw.team.name,
        "x-tokenthrift-customer": draw.customer,
        "x-tokenthrift-task": draw.task,
        "x-tokenthrift-tags": ",".join(tags),
    }
    if user:
        headers["x-tokenthrift-user"] = draw.user
    return headers


def _openai_request(draw: _Draw, tags: list[str]) -> tuple[dict[str, str], dict[str, Any]]:
    route = draw.route
    messages = [{"role": "system", "content": system_prompt(draw.team, route)}]
    messages += [{"role": role, "content": text} for role, text in _turns(draw)]
    body: dict[str, Any] = {"model": route.model, "messages": messages}
    if route.model.startswith("o"):  # reasoning models take max_completion_tokens only
        body["max_completion_tokens"] = MAX_TOKENS[draw.task] + 256
        body["reasoning_effort"] = "low"
    else:
        body["max_tokens"] = MAX_TOKENS[draw.task]
        body["temperature"] = 0.2
    if draw.stream:
        body["stream"] = True
        if draw.stream_usage:
            body["stream_options"] = {"include_usage": True}
    headers = {"authorization": f"Bearer {DEMO_API_KEY}", "content-type": "application/json"}
    if draw.via_metadata:
        # OpenAI metadata values are strings; the gateway reads attribution from them.
        body["metadata"] = {
            "team": draw.team.name,
            "customer": draw.customer,
            "user": draw.user,
            "task": draw.task,
            "tags": ",".join(tags),
        }
    else:
        headers.update(_attribution_headers(draw, tags, user=True))
    return headers, body


def _anthropic_request(draw: _Draw, tags: list[str]) -> tuple[dict[str, str], dict[str, Any]]:
    route = draw.route
    prompt = system_prompt(draw.team, route)
    system: str | list[dict[str, Any]] = prompt
    if route.cache_control:
        system = [{"type": "text", "text": prompt, "cache_control": {"type": "ephemeral"}}]
    body: dict[str, Any] = {
        "model": route.model,
        "max_tokens": MAX_TOKENS[draw.task],
        "system": system,
        "messages": [{"role": role, "content": text} for role, text in _turns(draw)],
        "temperature": 0.2,
    }
    if draw.stream:
        body["stream"] = True
    headers = {
        "x-api-key": DEMO_API_KEY,
        "anthropic-version": ANTHROPIC_VERSION,
        "content-type": "application/json",
    }
    # Anthropic metadata only carries user_id; the rest always goes in headers.
    if draw.via_metadata:
        body["metadata"] = {"user_id": draw.user}
    headers.update(_attribution_headers(draw, tags, user=not draw.via_metadata))
    return headers, body

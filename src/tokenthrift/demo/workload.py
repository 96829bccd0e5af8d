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


# --- the long shared system prompts ---------------------------------------------------

_POLICY = """\
# Northwind Cloud customer support policy (v14)

## Role
You are Tessa, the first-line support assistant for Northwind Cloud, a hosting and storage
provider. You answer customers of every plan tier by chat and e-mail. Be accurate, brief and
kind. Never invent a policy: when this document does not cover a case, say you will hand it
to a human agent and open an escalation.

## Refunds
Monthly plans are refundable in full within 14 days of the first charge. Annual plans are
refundable pro rata within 30 days, minus any discount the customer received. Usage-based
charges (egress, API calls, snapshots) are never refunded, except when the usage was caused
by an incident acknowledged on the status page. Refunds go back to the original payment
method within 5-10 business days. A second refund request in twelve months needs approval
from a billing specialist.

## Credits
Service credits compensate missed availability targets. Credits are applied to the next
invoice, are never paid out in cash and expire after twelve months. Credits are calculated
from the affected service's monthly fee only, never from the whole invoice. Customers must
claim credits within 30 days of the incident.

## Account security
Never ask for a password, a full card number or a one-time code. To change the account
owner, the customer must confirm from the owner's e-mail and pass two-factor verification.
Locked accounts unlock after 30 minutes or through the reset link. If a customer reports a
compromised key, revoke it first and explain how to rotate every key of the same project.

## Data and privacy
Deleted buckets stay recoverable for 7 days, deleted projects for 30 days. After that, data
is gone and cannot be restored by anyone. Data export requests under GDPR are fulfilled
within 30 days; send the customer the self-service export link first. Never confirm whether
a person is a customer to a third party.

## Outages
During an incident, link the status page, give the last update time and never promise a
resolution time that engineering has not published. Do not speculate about causes. After
the incident, point customers to the post-mortem when it exists.

## Escalation
Escalate to a human agent when the customer asks for one, threatens legal action, reports a
security incident, disputes a charge above 500 USD, or when you are not sure. Severity 1
means production down for an enterprise customer, severity 2 degraded service, severity 3 a
question or a minor bug.

## Tone
Use the customer's name when known. Apologise once, not repeatedly. Prefer numbered steps
for instructions. Keep answers under 150 words unless the customer asks for detail. Close
with one concrete next step.
"""
# fmt: off
_PLANS = (
    ("Starter", "99.5", "48 h", "e-mail"),
    ("Team", "99.9", "8 h", "e-mail, chat"),
    ("Business", "99.95", "2 h", "e-mail, chat, phone"),
    ("Enterprise", "99.99", "30 min", "e-mail, chat, phone, named engineer"),
)
_SERVICES = ("compute instances", "block storage", "object storage", "managed Postgres",
             "managed Redis", "load balancers", "DNS", "container registry", "CDN",
             "serverless functions", "VPN gateway", "backups")
_REGIONS = ("us-east-1", "us-west-2", "eu-central-1", "eu-west-1", "ap-south-1",
            "ap-northeast-1")
# fmt: on


def _service_table() -> str:
    rows = [
        "| service | region | plan | availability target | credit per 0.1% missed |",
        "|---|---|---|---|---|",
    ]
    for i, service in enumerate(_SERVICES):
        for j, (plan, target, _, _) in enumerate(_PLANS):
            region = _REGIONS[(i + j) % len(_REGIONS)]
            rows.append(f"| {service} | {region} | {plan} | {target}% | {2 + j + i % 3}% |")
    return "\n".join(rows)


def support_policy() -> str:
    """Northwind Cloud's support policy: the support team's long, stable system prompt."""
    parts = [_POLICY.rstrip()]
    parts.append(
        "## Plans\n"
        + "\n".join(
            f"- {plan}: availability {target}%, first response within {response}, "
            f"channels: {channels}."
            for plan, target, response, channels in _PLANS
        )
    )
    parts.append("## Availability targets and credits by service\n" + _service_table())
    return "\n\n".join(parts)


_HANDBOOK_RULES = (
    "Python 3.11, type hints on every function, ruff clean, no bare except",
    "functions under 60 lines, modules under 500 lines, one concept per module",
    "money is decimal.Decimal, never float, until it leaves the accounting layer",
    "every public function has a docstring that says why, not what",
    "tests describe behaviour a user relies on and never assert on wall-clock time",
    "secrets never reach logs, error messages or the database",
    "SQL is parameterised; schema changes go through numbered migrations",
    "HTTP handlers validate input and answer 4xx with the offending field named",
    "retries use exponential backoff with jitter and honour retry-after",
    "async code never blocks the event loop; CPU work goes to a thread pool",
    "feature flags are read once per request, never cached globally",
    "log lines are structured key=value pairs with a request id",
)
# fmt: off
_COMPONENTS = ("api-gateway", "billing", "auth", "search-indexer", "notifications",
               "scheduler", "storage-proxy", "metrics", "web-frontend", "data-export")
# fmt: on


def engineering_handbook() -> str:
    """The platform team's coding handbook: its long, stable system prompt."""
    lines = [
        "# Platform engineering handbook — code review assistant",
        "You review and write code for the platform team. Follow every rule below; "
        "when you break one, say which and why.",
        "## Rules",
    ]
    lines += [f"{i}. {rule}." for i, rule in enumerate(_HANDBOOK_RULES, 1)]
    lines.append("## Ownership and review requirements")
    for i, component in enumerate(_COMPONENTS):
        for stage in (
            "design review",
            "code review",
            "deploy approval",
            "on-call",
            "incident review",
        ):
            owner = _COMPONENTS[(i + len(stage)) % len(_COMPONENTS)]
            lines.append(
                f"- {component}: {stage} by the {owner} owners; "
                f"rollback window {15 * (1 + i % 4)} minutes; "
                f"error budget {0.1 * (1 + i % 5):.1f}% per 30 days."
            )
    return "\n".join(lines)


SUPPORT_POLICY = support_policy()
ENGINEERING_HANDBOOK = engineering_handbook()

# --- what people ask: per task, topics, each with several phrasings -------------------

# fmt: off
TOPICS: dict[str, tuple[tuple[str, ...], ...]] = {
    "classification": (
        ("Classify this ticket as billing, shipping, bug, account or other: 'I was charged "
         "twice for my March invoice.'",
         "Which category fits this ticket (billing, shipping, bug, account, other)? "
         "'My March invoice was charged two times.'"),
        ("Classify this ticket as billing, shipping, bug, account or other: 'The dashboard "
         "shows a blank page after login.'",
         "Pick one label - billing, shipping, bug, account or other - for: 'After I log in "
         "the dashboard is just blank.'"),
        ("Classify this ticket as billing, shipping, bug, account or other: 'How do I add a "
         "second admin to our organisation?'",
         "Label this ticket (billing/shipping/bug/account/other): 'Can we have two admins "
         "in our org? How?'"),
        ("Is this review positive, negative or neutral? 'Setup took five minutes and it "
         "just works.'",
         "Sentiment of this review, positive/negative/neutral: 'It just works, setup was "
         "five minutes.'"),
    ),
    "extraction": (
        ("Extract order_id, product and action as JSON from: 'Please cancel order "
         "NW-48213 for the managed Redis add-on.'",
         "Return JSON with order_id, product, action for: 'Cancel NW-48213 (managed Redis "
         "add-on), please.'"),
        ("Extract the company, contact name and e-mail as JSON: 'Hi, this is Dana Reyes "
         "from Globex, reach me at dana@globex.example.'",),
        ("Pull the invoice number, amount and due date out of: 'Invoice INV-2291 for "
         "1,240.50 USD is due on 2025-07-31.' Answer in JSON.",
         "From 'Invoice INV-2291 for 1,240.50 USD is due on 2025-07-31', extract invoice "
         "number, amount and due date as JSON."),
        ("List every product name mentioned: 'We use block storage, the CDN and managed "
         "Postgres in eu-west-1.'",),
    ),
    "summarization": (
        ("Summarize in two sentences: 'Customer reports intermittent 502 errors on the "
         "load balancer since Tuesday. Restarting instances helped for an hour. Logs show "
         "health checks timing out under peak traffic. They are on the Business plan and "
         "ask whether credits apply.'",
         "Give a two-sentence summary: 'Since Tuesday the customer sees 502s from the load "
         "balancer now and then; instance restarts fix it for about an hour; health checks "
         "time out at peak; Business plan; asks about credits.'"),
        ("Summarize this meeting note for an exec: 'Q3 churn fell to 2.1%. Enterprise "
         "expansion drove 60% of new revenue. Support backlog grew 15% after the pricing "
         "change. Action: hire two agents, revisit annual discount.'",),
        ("TL;DR of this changelog: 'Added EU data residency for backups. Fixed a race in "
         "snapshot deletion. Deprecated the v1 DNS API (removal in 6 months). Faster cold "
         "starts for serverless functions.'",
         "Summarize this changelog briefly: 'EU data residency for backups added; snapshot "
         "deletion race fixed; v1 DNS API deprecated, removed in six months; serverless "
         "cold starts faster.'"),
    ),
    "chat": (
        ("Can I still get a refund on my annual plan? I bought it 20 days ago.",
         "I purchased the annual plan 20 days back - is a refund still possible?",
         "Is my annual subscription refundable? It's been about three weeks."),
        ("How do I reset my password?",
         "I forgot my password, how can I reset it?",
         "What are the steps to reset a forgotten password?"),
        ("Our production database is down and we are on Enterprise. What happens now?",
         "Enterprise customer here, prod Postgres is down - what is the process?"),
        ("How long do you keep a deleted bucket before it is gone for good?",
         "If I delete a bucket by mistake, how many days do I have to recover it?"),
        ("Write a friendly subject line for our spring sale e-mail.",
         "Suggest a warm e-mail subject line for the spring promotion."),
        ("What is the difference between the Team and Business plans?",
         "Team vs Business plan - what do I get extra with Business?"),
    ),
    "code": (
        ("Write a Python function that retries an async call with exponential backoff.",
         "Implement async retry with exponential backoff and jitter in Python."),
        ("Review this function: def total(xs): return sum([x.price for x in xs]) / 100",
         "Code review please: def total(xs): return sum([x.price for x in xs]) / 100"),
        ("Write a SQL migration that adds a nullable customer column to the ledger table.",),
        ("Explain what this regex matches: ^req_[0-9a-f]{24}$",
         "What strings does ^req_[0-9a-f]{24}$ accept?"),
    ),
}

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

"""What the demo's requests say: two long shared system prompts (a support policy and
an engineering handbook, each well over 1,500 tokens so providers cache their prefix)
and, per task type, topics asked in several phrasings (for exact repeats and rewordings).
"""

from __future__ import annotations

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

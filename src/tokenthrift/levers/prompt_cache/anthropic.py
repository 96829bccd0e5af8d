"""Where to put ``cache_control`` breakpoints in an Anthropic request, and with what TTL.

Candidates, in cache order (prompt caching docs, "Structuring your prompt"):

* ``tools``     end of the tool definitions;
* ``system``    end of the system prompt;
* ``document``  end of a long stable first turn: the first user message when the
                conversation goes on after it, else its last block but one (a document
                followed by the question);
* ``turn``      the latest turn of a growing conversation: this request extends a prompt
                seen before (its prefix up to the previous user turn was a whole earlier
                request), so the next turn will read what this one writes.

A candidate is kept only when its prefix reaches the model's minimum cacheable length
(shorter ones cache nothing, silently), lies after the client's last breakpoint (the
client's breakpoints win and are never moved), and its reuse history says a write pays
back (``reuse``). At most 4 breakpoints in all (the API answers 400 above that): when
fewer are free, ``system`` goes first, then ``turn``, ``document``, ``tools``. 1-hour
breakpoints must come before 5-minute ones ("Mixing TTLs"), so after a 5-minute
breakpoint (the client's or ours) only 5-minute ones are placed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...types import CacheTTL
from .blocks import Block, mark, prompt_blocks
from .reuse import Reuse, ReuseTracker

MAX_BREAKPOINTS = 4
# Minimum cacheable prompt length by model (prompt caching docs, "Cache limitations");
# the first matching prefix wins, other Claude models need 1024 tokens.
_MINIMUMS = (
    ("claude-opus-4-5", 4096),
    ("claude-opus-4-6", 4096),
    ("claude-haiku-4-5", 4096),
    ("claude-sonnet-4-6", 2048),
    ("claude-3-5-haiku", 2048),
    ("claude-3-haiku", 2048),
)
DEFAULT_MINIMUM = 1024
PRIORITY = ("system", "turn", "document", "tools")


def minimum_tokens(model: str) -> int:
    name = model.lower().rsplit("/", 1)[-1]
    for prefix, minimum in _MINIMUMS:
        if name.startswith(prefix):
            return minimum
    return DEFAULT_MINIMUM


@dataclass(frozen=True, slots=True)
class Breakpoint:
    kind: str  # tools | system | document | turn
    tokens: int  # prefix tokens up to the breakpoint (the gateway's count)
    ttl: CacheTTL


@dataclass(slots=True)
class AnthropicPlan:
    """What the lever did to one upstream body (kept in ``exchange.notes``)."""

    model: str
    # Prefix tokens up to the client's last breakpoint (0 without one): caching up to
    # there is the client's doing, beyond it the lever's.
    client_tokens: int = 0
    client_breakpoints: int = 0
    added: list[Breakpoint] = field(default_factory=list)
    prompt_tokens: int = 0

    def ledger_note(self) -> dict[str, Any]:
        return {
            "breakpoints": [{"at": b.kind, "tokens": b.tokens, "ttl": b.ttl} for b in self.added],
            "client_breakpoints": self.client_breakpoints,
        }


@dataclass(slots=True)
class _Candidate:
    kind: str
    block: Block
    reuse: Reuse


def plan_breakpoints(body: dict[str, Any], namespace: bytes, tracker: ReuseTracker,
                     now: float) -> AnthropicPlan:
    """Add breakpoints to ``body`` where they pay; record this use in ``tracker``."""
    model = str(body.get("model") or "")
    blocks = prompt_blocks(body, namespace)
    plan = AnthropicPlan(model, prompt_tokens=blocks[-1].tokens if blocks else 0)
    if not blocks:
        return plan
    client = [i for i, block in enumerate(blocks) if block.ttl]
    plan.client_breakpoints = len(client)
    plan.client_tokens = blocks[client[-1]].tokens if client else 0
    candidates = _candidates(body, blocks, tracker, now)
    free = MAX_BREAKPOINTS - len(client)
    after = client[-1] if client else -1
    minimum = minimum_tokens(model)
    eligible = [c for c in candidates
                if blocks.index(c.block) > after and c.block.tokens >= minimum
                and c.block.cacheable]
    eligible.sort(key=lambda c: PRIORITY.index(c.kind))
    chosen: list[_Candidate] = []
    for candidate in eligible:
        if len(chosen) < free and candidate.reuse.ttl() is not None:
            chosen.append(candidate)
    chosen.sort(key=lambda c: blocks.index(c.block))
    only_5m = any(block.ttl == "5m" for block in blocks)
    for candidate in chosen:
        ttl = candidate.reuse.ttl(allow_1h=not only_5m)
        if ttl is None:
            continue
        only_5m = only_5m or ttl == "5m"
        mark(body, candidate.block, ttl)
        plan.added.append(Breakpoint(candidate.kind, candidate.block.tokens, ttl))
    return plan


def _candidates(body: dict[str, Any], blocks: list[Block], tracker: ReuseTracker,
                now: float) -> list[_Candidate]:
    found: dict[str, Block] = {}
    for kind in ("tools", "system"):
        mine = [b for b in blocks if b.where == kind]
        if mine:
            found[kind] = mine[-1]
    messages = body.get("messages") or []
    by_message: dict[int, list[Block]] = {}
    for block in blocks:
        if block.where == "message":
            by_message.setdefault(block.message, []).append(block)
    first = by_message.get(0, [])
    if first and len(messages) > 1:
        found["document"] = first[-1]
    elif len(first) > 1:
        found["document"] = first[-2]
    # Read the previous turn's history before this request's uses are recorded: the
    # previous turn may also be this request's ``document`` candidate.
    tail = blocks[-1]
    previous_turn = by_message.get(len(messages) - 3) if len(messages) >= 3 else None
    history = tracker.get(previous_turn[-1].fingerprint) if previous_turn else None
    out: list[_Candidate] = []
    seen: dict[bytes, Reuse] = {}
    for kind, block in found.items():
        reuse = seen.get(block.fingerprint) or tracker.see(block.fingerprint, now)
        seen[block.fingerprint] = reuse
        out.append(_Candidate(kind, block, reuse))
    if tail.fingerprint in seen:
        return out
    reuse = tracker.see(tail.fingerprint, now, history=history)
    if history is not None and tail.where == "message":
        out.append(_Candidate("turn", _last_cacheable(by_message[tail.message]), reuse))
    return out


def _last_cacheable(blocks: list[Block]) -> Block:
    for block in reversed(blocks):
        if block.cacheable:
            return block
    return blocks[-1]

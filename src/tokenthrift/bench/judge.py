"""Judging an answer against a request's answer key, and blaming a lever for a wrong one.

What the judge knows about an answer (``Served``) comes from three places the gateway
cannot bend: the answer's tag (the emulator's ``[[answer:TAG]]``, kept verbatim by any
cache), the emulator's record of that tag (the model that generated it and the prompt
that reached it), and the ledger row of the request (cache status, which levers acted).

* ``labels``: right iff the model that generated the answer is labelled true (a model
  missing from the labels is wrong).
* ``class``: a fresh upstream answer is right; a reused one (a cache hit) is right iff it
  was generated for a request of the same class.
* ``answers``: right iff one of the strings is in the prompt that reached the upstream
  when the answer was generated (compression may have removed them all).
* a list: all must hold.

A request right in the baseline run and wrong in the policy run lost quality; the rules
in ``blame`` say which lever's action made it wrong. A new lever that changes answers
in a new way needs a rule here (and nothing else in the harness).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .trace import AnswerKey, AnswersKey, ClassKey, LabelsKey, TraceRequest

# The ledger's cache_status of an answer the cache served, and the lever it is saved under.
REUSED = {"exact": "exact_cache", "semantic": "semantic_cache"}
UNATTRIBUTED = "unattributed"


@dataclass(slots=True)
class Served:
    """What one request got, as far as judging needs."""

    ok: bool  # HTTP 200 with a tagged answer
    tag: str | None = None
    model: str | None = None  # the model that generated the answer (emulator record)
    prompt: str | None = None  # the prompt that reached the upstream for it
    cache_status: str = "miss"  # the ledger's: miss, exact, semantic, bypass
    owner: TraceRequest | None = None  # the request the answer was generated for
    fallback: bool = False  # served by a fallback model after upstream errors
    levers: frozenset[str] = field(default_factory=frozenset)  # levers that acted (ledger)

    @property
    def reused(self) -> bool:
        return self.cache_status in REUSED


def holds(key: AnswerKey, request: TraceRequest, served: Served) -> bool:
    """Whether ``served`` is a right answer to ``request`` under ``key``."""
    if not served.ok:
        return False
    if isinstance(key, LabelsKey):
        return served.model is not None and key.labels.get(served.model, False)
    if isinstance(key, ClassKey):
        if not served.reused:
            return True
        owner = served.owner
        return owner is not None and any(
            isinstance(k, ClassKey) and k.name == key.name for k in owner.keys)
    if isinstance(key, AnswersKey):
        prompt = served.prompt or ""
        return any(answer in prompt for answer in key.answers)
    raise TypeError(f"unknown answer key {key!r}")


def correct(request: TraceRequest, served: Served) -> bool:
    return all(holds(key, request, served) for key in request.keys)


def blame(request: TraceRequest, served: Served, baseline: Served) -> str:
    """The lever whose action made ``served`` differ from ``baseline`` in rightness.

    Rules, first match: a reused answer from another class or with another prompt → the
    cache layer that served it; a model other than the baseline's (not a fallback) →
    routing; a prompt missing what the baseline's had → compression (or whichever
    prompt-rewriting lever acted); anything else (a failed request) → unattributed.
    """
    if not served.ok:
        return UNATTRIBUTED
    differs = [key for key in request.keys
               if holds(key, request, served) != holds(key, request, baseline)]
    for key in differs:
        if isinstance(key, LabelsKey):
            if served.model != baseline.model and not served.fallback:
                return "routing"
        elif served.reused:
            return REUSED[served.cache_status]
        elif isinstance(key, AnswersKey):
            rewriting = sorted(served.levers & PROMPT_REWRITERS)
            if rewriting:
                return rewriting[0]
    return UNATTRIBUTED


# Levers that rewrite the prompt the upstream sees.
PROMPT_REWRITERS = frozenset({"compression"})

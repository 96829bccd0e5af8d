"""Who a governed request is charged to: the key's owner, then (if trusted) headers.

A virtual key's ``team``, ``user`` and ``customer`` always win over the
``x-tokenthrift-*`` headers and request metadata, so a client cannot move its spend to
another team's budget. Whether headers may fill what the key leaves empty is
``governance.trust_attribution_headers``:

* ``owned_keys_only`` (default): from a key that pins an owner (a team's key may still
  name its user), from the master key, and from anonymous callers where auth is optional
  (a keyless gateway is attributed by headers alone). Not from a key without an owner:
  whoever holds one could otherwise charge any team's, user's or customer's budget.
* ``always``: from every caller (the behaviour before this setting existed).
* ``never``: from nobody; only keys name owners.

Untrusted owner fields are dropped from the request's attribution, not just ignored by
budgets: the ledger row, the budgets and team rate limits then agree on one owner, and
a counter re-seeded from the ledger counts exactly what the budget counted. Tags and
the task type always come from the request (tag budgets are self-declared by nature).
"""

from __future__ import annotations

from ...types import Attribution
from .auth import ANONYMOUS, Identity
from .settings import HeaderTrust


def trusts_headers(mode: HeaderTrust, identity: Identity, auth_required: bool) -> bool:
    if mode != "owned_keys_only":
        return mode == "always"
    key = identity.key
    if key is not None:
        return key.team is not None or key.user is not None or key.customer is not None
    return identity.master or not auth_required


def attribute(who: Attribution, identity: Identity, trust_headers: bool) -> None:
    """Apply the caller's key to ``who`` (filled from headers and metadata so far)."""
    if identity is not ANONYMOUS:
        who.key_id = identity.key_id
    if not trust_headers:
        who.team = who.user = who.customer = None
    key = identity.key
    if key is None:
        return
    if key.team is not None:
        who.team = key.team
    if key.user is not None:
        who.user = key.user
    if key.customer is not None:
        who.customer = key.customer

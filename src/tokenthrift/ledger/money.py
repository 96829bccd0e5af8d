"""Exact money in the ledger: USD as ``Decimal`` in Python, integer pico-USD in the database.

Why pico (1e-12 USD): every price the catalog holds is a multiple of $0.000001 per
million tokens or coarser ($0.01875/MTok cached input is 1.875e-8 USD per token,
18,750 pico-USD), so a request's cost is an exact integer of pico-USD. Nano-USD (1e-9)
would already round such a token. A signed 64-bit column then holds up to about
$9.2 million per row, far above any single request; a value outside that range is
refused (the writer quarantines the row) rather than wrapped.

Why sums are split in two: SQLite's ``SUM`` over integers raises "integer overflow" past
2^63 pico-USD (about $9.2 million in total, reached by a busy gateway within months),
and its ``TOTAL`` is a float. ``SUM(x / 1000000)`` (whole micro-USD, integer division
truncating toward zero in SQLite and PostgreSQL alike) and ``SUM(x - x / 1000000 *
1000000)`` (the remainder, same sign as ``x``) satisfy ``x = q * 1000000 + r`` row by row, so the total is
``SUM(q) * 1000000 + SUM(r)`` exactly, with headroom for $9.2 trillion. PostgreSQL would
sum a BIGINT exactly as NUMERIC anyway; one query text serves both.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from typing import Any

PICO_PER_USD = 10**12
SPLIT = 1_000_000  # the divisor of the two-part sums (see the module docstring)
PICO = Decimal("1e-12")
_INT64_MAX = 2**63 - 1
# Wide enough that quantizing any in-range amount to 1e-12 is exact before rounding.
_CONTEXT = Context(prec=60, rounding=ROUND_HALF_EVEN)
ZERO = Decimal(0)


def as_usd(value: Any, name: str = "amount") -> Decimal | None:
    """A money value as ``Decimal``: Decimals pass, ints convert, floats go through their
    shortest repr (0.1 -> Decimal('0.1'), not the binary expansion), strings are parsed.
    None stays None. NaN, infinities, bools and other types raise ``ValueError``."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise ValueError(f"{name}: expected USD as a Decimal, got {value!r}")
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"{name}: cannot read {value!r} as USD") from None
    else:
        raise ValueError(f"{name}: expected USD as a Decimal, got {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"{name}: {value!r} is not an amount of money")
    return result


def to_pico(usd: Decimal) -> int:
    """USD -> integer pico-USD, rounded half-even; ``ValueError`` outside int64."""
    pico = int(usd.scaleb(12, _CONTEXT).to_integral_value(ROUND_HALF_EVEN, _CONTEXT))
    if not -_INT64_MAX <= pico <= _INT64_MAX:
        raise ValueError(f"{usd} USD is outside what the ledger stores (|x| < $9.2M per row)")
    return pico


def to_pico_or_none(usd: Decimal | None) -> int | None:
    return None if usd is None else to_pico(usd)


def from_pico(pico: int) -> Decimal:
    """Integer pico-USD -> USD, without trailing zeros (``18750`` -> ``Decimal('1.875E-8')``)."""
    if not pico:
        return ZERO
    return Decimal(pico).scaleb(-12, context=_CONTEXT).normalize(_CONTEXT)


def from_pico_or_none(pico: int | None) -> Decimal | None:
    return None if pico is None else from_pico(pico)


def rounded(usd: Decimal | None) -> Decimal | None:
    """What the ledger keeps of ``usd``: rounded half-even to 1e-12."""
    return None if usd is None else from_pico(to_pico(usd))


def sum_sql(expr: str) -> tuple[str, str]:
    """The two overflow-free SQL sums of a pico-USD integer expression. The remainder
    is spelled without ``%``, which psycopg would take for a placeholder."""
    return (
        f"SUM(({expr}) / {SPLIT})",
        f"SUM(({expr}) - (({expr}) / {SPLIT}) * {SPLIT})",
    )


def from_sums(whole: Any, remainder: Any) -> Decimal:
    """USD from the two sums ``sum_sql`` selects (NULL sums, i.e. no rows, are 0)."""
    return from_pico(int(whole or 0) * SPLIT + int(remainder or 0))


def plain(usd: Decimal) -> str:
    """Decimal text without an exponent and with a decimal point (``"0.00001875"``,
    ``"3.0"``), so JSON and CSV readers parse it back to the exact value."""
    text = format(usd, "f")
    return text if "." in text else f"{text}.0"

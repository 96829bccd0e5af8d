"""The compression lever in a running gateway: the upstream sees the shorter prompt, the
ledger credits exactly the removed tokens at the served model's price."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from compression_fixtures import context
from gateway_harness import config_for, levers_with, running_gateway
from tokenthrift.levers.compression import Compressor
from tokenthrift.levers.compression.lever import CompressionLever
from tokenthrift.levers.compression.settings import CompressionSettings

SYSTEM = "Answer from the documents only."
PROMPT = f"{context()}\n\nQuestion: who built the sydney harbour bridge?"


def _send(tmp_path: Path, header: str) -> tuple[int, dict[str, object], Decimal, Decimal | None]:
    config = config_for(tmp_path)
    lever = CompressionLever(CompressionSettings(enabled=True, target_ratio=0.3, min_tokens=50),
                             Compressor())
    with running_gateway(config, levers=levers_with(config, compression=lever)) as gw:
        raw = gw.openai().chat.completions.with_raw_response.create(
            model="gpt-4o-mini",
            messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}],
            max_tokens=5,
            extra_headers={"x-tokenthrift-compress": header},
        )
        completion = raw.parse()
        row = gw.ledger_row(raw.headers["x-tokenthrift-request-id"])
    assert completion.usage is not None
    saved = row.savings.get("compression", Decimal(0))
    return completion.usage.prompt_tokens, row.notes, saved, row.baseline_cost_usd


def test_upstream_sees_the_compressed_prompt_and_the_ledger_credits_the_difference(
    tmp_path: Path,
) -> None:
    full_tokens, full_notes, full_saved, full_baseline = _send(tmp_path / "off", "off")
    tokens, notes, saved, baseline = _send(tmp_path / "on", "0.3")
    assert "compression" not in full_notes and full_saved == 0  # positive control
    note = notes["compression"]
    assert isinstance(note, dict)
    assert note["input_tokens_before"] == full_tokens
    assert note["input_tokens_after"] == tokens < 0.5 * full_tokens
    # gpt-4o-mini list price for uncached input: $0.15 per 1M tokens
    removed = full_tokens - tokens
    assert saved == Decimal(removed) * Decimal("0.15") / 1_000_000
    assert baseline == full_baseline  # the baseline is the prompt as asked

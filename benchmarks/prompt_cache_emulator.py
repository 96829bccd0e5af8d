"""Automatic prompt caching on the emulator: 1,000 requests sharing a 3,000-token system
prompt, each with a different user turn, at random times over 30 simulated minutes.

For an Anthropic model and an OpenAI model, with the ``prompt_caching`` lever on and off,
it reports the share of system-prompt (prefix) tokens billed at the cached rate and the
net input-cost saving on those tokens against sending them uncached: write premiums are
counted against read discounts. The emulator applies each provider's documented caching
rules on a simulated clock shared with the lever, and the ledger's ``prompt_cache``
saving is printed beside the measurement.

    .venv/bin/python benchmarks/prompt_cache_emulator.py [--requests 1000] [--minutes 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from tokenthrift.accounting.billable import Billable
from tokenthrift.assembly import build_gateway
from tokenthrift.config import parse_config
from tokenthrift.emulator import Emulator, EmulatorConfig
from tokenthrift.levers.prompt_cache.lever import PromptCacheLever
from tokenthrift.levers.prompt_cache.settings import PromptCacheSettings
from tokenthrift.pipeline import Gateway
from tokenthrift.tokens import count_chat
from tokenthrift.types import Attribution, ChatRequest, Message, TextPart, Usage

MODELS = {"anthropic": "claude-sonnet-4-5", "openai": "gpt-4o"}
TOPICS = ("returns", "shipping", "warranty", "invoices", "accounts", "stock", "repairs")


def system_prompt(tokens: int) -> str:
    sentences = [f"Policy {i}: questions about {TOPICS[i % len(TOPICS)]} case {i} get a "
                 f"short, exact answer citing section {i}." for i in range(tokens // 16 + 1)]
    text = "You are the support assistant of a hardware store. " + " ".join(sentences)
    while count_chat([("system", text)], "gpt-4o") - 3 > tokens:  # trim to the target size
        text = text[: int(len(text) * 0.995)]
    return text


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Result:
    provider: str
    model: str
    lever: bool
    requests: int
    prefix_tokens: int
    cached_share: float
    net_saving: float
    ledger_saving_usd: float
    input_cost_usd: float


async def run(provider: str, lever_on: bool, n: int, minutes: float, system: str,
              workdir: Path) -> Result:
    model = MODELS[provider]
    clock = Clock()
    raw: dict[str, Any] = {"providers": {"emu": {"type": "emulator"}},
                           "retry": {"max_retries": 0},
                           "storage": {"ledger": f"sqlite:///{workdir}/{provider}-{lever_on}.db"}}
    if lever_on:
        raw["prompt_caching"] = {"anthropic": "auto", "openai": "auto"}
    config = parse_config(raw)
    levers = [PromptCacheLever(PromptCacheSettings.from_config(config), clock=clock)] \
        if lever_on else []
    gateway: Gateway = build_gateway(config, emulator=Emulator(EmulatorConfig(), clock=clock),
                                     levers=levers)
    rng = random.Random(7)
    times = sorted(rng.uniform(0, minutes * 60) for _ in range(n))
    start = clock.now
    prefix = count_chat([("system", system)], model) - 3  # the system message's tokens
    read = write_5m = write_1h = 0
    usages: list[Usage] = []
    saved = Decimal(0)
    for i, at in enumerate(times):
        clock.now = start + at
        question = f"Customer {rng.randint(1, 10**6)} asks about {rng.choice(TOPICS)} case {i}."
        request = ChatRequest(model=model, max_tokens=32, source_format=provider,  # type: ignore[arg-type]
                              messages=[Message("system", [TextPart(system)]),
                                        Message("user", [TextPart(question)])])
        done = await gateway.complete(request, Attribution(team="bench"))
        usage = done.response.usage
        usages.append(usage)
        hit = min(usage.cache_read_tokens, prefix)
        read += hit
        written = min(usage.cache_write_tokens, prefix - hit)
        share_1h = usage.cache_write_1h_tokens / usage.cache_write_tokens if written else 0.0
        write_1h += round(written * share_1h)
        write_5m += written - round(written * share_1h)
        saved += done.settlement.savings.get("prompt_cache", Decimal(0))
    await gateway.aclose()

    def price(usage: Usage) -> Decimal:
        value = gateway.accountant.price(Billable(model, usage, protocol=provider))  # type: ignore[arg-type]
        assert value is not None
        return value

    total = n * prefix
    uncached = price(Usage(input_tokens=total))
    cached = price(Usage(input_tokens=total - read - write_5m - write_1h, cache_read_tokens=read,
                         cache_write_5m_tokens=write_5m, cache_write_1h_tokens=write_1h))
    input_cost = sum((price(Usage(u.input_tokens, u.cache_read_tokens, u.cache_write_5m_tokens,
                                  u.cache_write_1h_tokens)) for u in usages), Decimal(0))
    return Result(provider, model, lever_on, n, prefix, read / total,
                  float(1 - cached / uncached), float(saved), float(input_cost))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--prefix-tokens", type=int, default=3000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    system = system_prompt(args.prefix_tokens)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for provider in ("anthropic", "openai"):
            for lever_on in (False, True):
                results.append(await run(provider, lever_on, args.requests, args.minutes,
                                         system, Path(tmp)))
    if args.json:
        print(json.dumps([r.__dict__ for r in results], indent=2))
        return
    print(f"{args.requests} requests, {args.prefix_tokens}-token system prompt, "
          f"{args.minutes:g} simulated minutes")
    print(f"{'model':<20} {'lever':<5} {'prefix':>7} {'cached':>8} {'net saving':>11} "
          f"{'input $':>10} {'ledger prompt_cache $':>22}")
    for r in results:
        print(f"{r.model:<20} {'on' if r.lever else 'off':<5} {r.prefix_tokens:>7} "
              f"{r.cached_share:>8.1%} {r.net_saving:>11.1%} {r.input_cost_usd:>10.4f} "
              f"{r.ledger_saving_usd:>22.6f}")


if __name__ == "__main__":
    asyncio.run(main())

"""Response-cache hot path: µs per exact-key computation and per memory-backend lookup.

Columns: the exact key alone; the semantic partition + query text alone; the memory
backend's get; a whole exact hit as the pipeline calls it (policy, key, get, decode,
fresh response); a whole miss (lookup, then encode + put of the answer).

Every request pays the key computation (when the cache is on); every hit pays the whole
lookup (policy, key, backend get, payload decode, fresh response). Requests are parsed
from OpenAI JSON as the server does; timings are the median of ``--repeats`` runs of
``--n`` iterations, in µs per operation, single thread, no network.

Run: ``.venv/bin/python benchmarks/cache_hot_path.py [--redis redis://127.0.0.1:6379/0]``
(``--help`` for sizes). A second table times get/put on each backend.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from tokenthrift.config import parse_config
from tokenthrift.exchange import Exchange
from tokenthrift.levers.cache import CacheLever, build
from tokenthrift.levers.cache.keys import exact_key, semantic_query, tag
from tokenthrift.types import (
    Attribution,
    ChatRequest,
    ChatResponse,
    Choice,
    Message,
    TextPart,
    Usage,
)
from tokenthrift.wire import openai_chat

SYSTEM = "You are a support assistant for ACME. Answer in three sentences or fewer. " * 8
ANSWER = "To reset your password, open Settings, choose Security, then Reset password. " * 4


def request_body(turns: int) -> dict[str, Any]:
    """A chat of ``turns`` user/assistant pairs before the final question."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}]
    for i in range(turns):
        messages.append({"role": "user", "content": f"Question {i} about my account settings?"})
        messages.append({"role": "assistant", "content": ANSWER})
    messages.append({"role": "user", "content": "How do I reset my password?"})
    return {"model": "gpt-4o", "messages": messages, "max_tokens": 256, "temperature": 0}


def per_op_us(fn: Callable[[], object], n: int, repeats: int) -> float:
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(runs)


def _exchange(chat: ChatRequest, key_id: str) -> Exchange:
    return Exchange(request=chat, attribution=Attribution(key_id=key_id),
                    requested_model="gpt-4o", wire_format="openai",
                    endpoint="chat.completions")


def per_call_us(loop: asyncio.AbstractEventLoop, make: Callable[[int], Awaitable[object]],
                n: int, repeats: int) -> float:
    """µs per awaited call, 100 calls per loop turn so the loop's own cost vanishes."""

    async def batch() -> None:
        for i in range(100):
            await make(i)

    return per_op_us(lambda: loop.run_until_complete(batch()), max(1, n // 100), repeats) / 100


def measure(turns: int, n: int, repeats: int) -> dict[str, float]:
    chat = openai_chat.parse_request(request_body(turns))
    lever = build(parse_config({"data_dir": "/tmp/tokenthrift-bench"}))
    assert isinstance(lever, CacheLever)
    response = ChatResponse("chatcmpl-1", "gpt-4o",
                            [Choice(0, Message("assistant", [TextPart(ANSWER)]))],
                            Usage(input_tokens=900, output_tokens=80))
    loop = asyncio.new_event_loop()
    first = _exchange(chat, "key_0")
    assert loop.run_until_complete(lever.lookup(first)) is None
    loop.run_until_complete(lever.store(first, response))
    entry_id = exact_key(chat, "key:key_0").id

    async def miss_and_store(i: int) -> None:
        fresh = _exchange(chat, f"key_miss_{i}")  # another tenant: always a miss
        await lever.lookup(fresh)
        await lever.store(fresh, response)

    results = {
        "exact key": per_op_us(lambda: exact_key(chat, "key:k"), n, repeats),
        "semantic partition + text": per_op_us(lambda: semantic_query(chat, "key:k"), n, repeats),
        "memory get (bytes only)": per_call_us(loop, lambda i: lever.backend.get(entry_id),
                                               n, repeats),
        # policy + key + get + decode + fresh response, as the pipeline calls it
        "exact hit, full lookup": per_call_us(loop, lambda i: lever.lookup(_exchange(chat, "key_0")),
                                              n, repeats),
        # a miss: lookup, then storing the upstream answer (encode + put)
        "miss + store": per_call_us(loop, miss_and_store, n, repeats),
    }
    loop.run_until_complete(lever.aclose())
    loop.close()
    return results


async def backend_us(backend: Any, n: int) -> tuple[float, float]:
    """µs per get (a 1.5 KB payload) and per put on one backend."""
    payload = b"x" * 1500
    ids = [f"{tag('s')}:{tag('m')}:{i:032x}" for i in range(n // 5)]  # the real id layout
    await backend.put(ids[0], payload, scope="s", model="m", expires_at=time.time() + 60)
    start = time.perf_counter()
    for _ in range(n):
        await backend.get(ids[0])
    get_us = (time.perf_counter() - start) / n * 1e6
    start = time.perf_counter()
    for entry_id in ids:
        await backend.put(entry_id, payload, scope="s", model="m", expires_at=time.time() + 60)
    put_us = (time.perf_counter() - start) / (n // 5) * 1e6
    await backend.clear()
    await backend.aclose()
    return get_us, put_us


def backends_table(n: int, redis_url: str | None) -> None:
    import tempfile

    from tokenthrift.levers.cache.backends.memory import MemoryBackend
    from tokenthrift.levers.cache.backends.redis import RedisBackend
    from tokenthrift.levers.cache.backends.sqlite import SqliteBackend

    with tempfile.TemporaryDirectory() as tmp:
        backends: dict[str, Callable[[], Any]] = {
            "memory": lambda: MemoryBackend(100_000),
            "sqlite (WAL, local file)": lambda: SqliteBackend(f"{tmp}/cache.db", 100_000),
        }
        if redis_url:
            backends[f"redis ({redis_url})"] = lambda: RedisBackend(redis_url, "tt-bench")
        print("\n| backend | get | put |\n|---|---|---|")
        for name, make in backends.items():
            get_us, put_us = asyncio.run(backend_us(make(), n))
            print(f"| {name} | {get_us:.1f} µs | {put_us:.1f} µs |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--turns", type=int, nargs="*", default=[0, 5, 20])
    parser.add_argument(
        "--redis",
        default=None,
        metavar="URL",
        help="also time the redis backend, e.g. redis://127.0.0.1:6379/0",
    )
    args = parser.parse_args()
    print(
        f"python {sys.version.split()[0]} on {platform.machine()} "
        f"({platform.processor() or platform.platform()})"
    )
    print("| request | " + " | ".join(measure(0, 10, 1)) + " |")
    print("|---" * 6 + "|")
    for turns in args.turns:
        row = measure(turns, args.n, args.repeats)
        label = f"system + {2 * turns} history turns + question"
        print(f"| {label} | " + " | ".join(f"{us:.1f} µs" for us in row.values()) + " |")
    backends_table(max(1000, args.n // 4), args.redis)


if __name__ == "__main__":
    main()

"""How fast an entry stored by one replica reaches another replica's semantic index.

    .venv/bin/python benchmarks/semcache_shared_index.py [--redis redis://127.0.0.1:6379/0]
                                                        [--entries 500] [--preload 20000]
    .venv/bin/python benchmarks/semcache_shared_index.py --processes [--questions 50]

Two ``SharedIndex`` matchers (two replicas' indexes, in one process, each with its own
Redis connections and follower thread) share a Redis stream. For each of ``--entries``
adds on replica A, the time until replica B's index holds the entry is measured (B is
polled every 0.2 ms). Then a third replica starts on a stream of ``--preload`` entries and
the time its catch-up takes (before it serves) is reported. Vectors are random unit
vectors: embedding is not what is measured here (it happens once, on the storing replica).

``--processes``: two ``tokenthrift serve`` processes (emulator upstream, ``cache.backend:
redis``, semantic threshold 0.85), measured end to end through HTTP. A positive control
first (B answers a reworded question from its own entry, else the run stops). Then for each
of ``--questions`` distinct questions ("How do I {verb} my {thing}?"): B is asked the
reworded question ("How can I ...?") and must miss (no other entry answers it); A is asked
the question and must miss (it stores the answer); then B is asked the reworded question
every ~5 ms until it answers "semantic", with the answer A stored. The delay is from A's
response to B's semantic answer, so it includes A's store and publish, B's follower and
one B request (embedding the question, lookup, HTTP round trip), whose latency is reported
too. Every probe carries ``x-tokenthrift-cache-ttl: 0``: it looks up but stores nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import redis
import yaml

from services import HOST, Service, _spawn, child_env, free_port, tokenthrift_executable, wait_ready
from tokenthrift.levers.cache.semantic.decision import Decision
from tokenthrift.levers.cache.semantic.embedders import Embeddings
from tokenthrift.levers.cache.semantic.matcher import LocalMatcher
from tokenthrift.levers.cache.semantic.shared import SharedIndex, log_key

DIM = 384


class RandomEmbedder:
    name = "bench-random"
    dim = DIM
    max_tokens = None

    def __init__(self) -> None:
        self._rng = np.random.default_rng(1)

    def embed(self, texts: list[str]) -> Embeddings:
        v = self._rng.standard_normal((len(texts), DIM)).astype(np.float32)
        return Embeddings(v / np.linalg.norm(v, axis=1, keepdims=True))


def replica(url: str, prefix: str, max_entries: int = 100_000) -> SharedIndex:
    local = LocalMatcher(RandomEmbedder(), Decision(0.9, ()), data_dir=None,  # type: ignore[arg-type]
                         max_entries=max_entries)
    return SharedIndex(local, url, prefix)


# -- two ``tokenthrift serve`` processes --------------------------------------------------

# One verb and thing per question, things far enough apart that no question answers
# another's rewording (checked per question: B must miss before A stores).
QUESTIONS = [
    ("reset", "password"), ("change", "shipping address"), ("update", "phone number"),
    ("rename", "wishlist"), ("replace", "profile picture"), ("remove", "saved credit card"),
    ("cancel", "newsletter subscription"), ("track", "parcel"), ("download", "invoice"),
    ("print", "return label"), ("redeem", "gift card"), ("check", "loyalty points"),
    ("empty", "shopping cart"), ("reschedule", "delivery"), ("close", "account"),
    ("enable", "two-factor authentication"), ("switch", "display language"),
    ("mute", "push notifications"), ("edit", "product review"), ("apply", "coupon code"),
    ("claim", "warranty"), ("speed up", "refund"), ("extend", "free trial"),
    ("pause", "monthly subscription box"), ("upgrade", "membership tier"),
    ("share", "order history"), ("export", "personal data"), ("verify", "student status"),
    ("set", "time zone"), ("recover", "security question"), ("link", "bank account"),
    ("choose", "pickup store"), ("skip", "next recurring order"), ("create", "wedding registry"),
    ("turn off", "price drop alerts"), ("clear", "browsing history"),
    ("add", "second delivery contact"), ("report", "damaged item"),
    ("exchange", "shoes for another size"), ("split", "payment across two cards"),
    ("donate", "reward vouchers"), ("transfer", "store credit to a friend"),
    ("book", "furniture assembly appointment"), ("renew", "extended protection plan"),
    ("sync", "fitness tracker"), ("unlock", "company discount"),
    ("request", "tax-exempt certificate"), ("schedule", "recycling pickup for old electronics"),
    ("log out of", "other devices"), ("see", "carbon footprint of purchases"),
]


def _serve(workdir: Path, name: str, redis_url: str, prefix: str) -> Service:
    config = workdir / f"{name}.yaml"
    config.write_text(yaml.safe_dump({
        "providers": {"emu": {"type": "emulator"}},
        "models": [{"name": "*", "provider": "emu"}],
        "data_dir": str(workdir / name),
        "storage": {"ledger": f"sqlite:///{workdir}/{name}.db", "redis": redis_url},
        "cache": {"backend": "redis", "redis_prefix": prefix,
                  "semantic": {"enabled": True, "threshold": 0.85}},
    }))
    port = free_port()
    argv = [str(tokenthrift_executable()), "serve", "--config", str(config), "--host", HOST,
            "--port", str(port)]
    process, log = _spawn(name, argv, workdir, child_env())
    service = Service(name, process, port, log)
    wait_ready(service, "/health", 60.0)
    return service


class Asker:
    """Chat completions against one gateway over a kept-alive connection."""

    def __init__(self, service: Service, system: str) -> None:
        self.service = service
        self.system = system
        self.http = httpx.Client(base_url=service.base_url, timeout=30.0, trust_env=False,
                                 headers={"authorization": "Bearer sk-bench-shared-index"})

    def ask(self, text: str, store: bool = True) -> tuple[str, str]:
        """(x-tokenthrift-cache, answer text)."""
        headers = {} if store else {"x-tokenthrift-cache-ttl": "0"}
        response = self.http.post("/v1/chat/completions", headers=headers, json={
            "model": "gpt-4o", "max_tokens": 200,
            "messages": [{"role": "system", "content": self.system},
                         {"role": "user", "content": text}]})
        if response.status_code != 200:
            raise RuntimeError(f"{self.service.name}: {response.status_code} {response.text}\n"
                               f"{self.service.log_tail()}")
        return (response.headers["x-tokenthrift-cache"],
                response.json()["choices"][0]["message"]["content"])

    def expect(self, text: str, outcome: str, store: bool = True) -> str:
        got, answer = self.ask(text, store)
        if got != outcome:
            raise SystemExit(f"{self.service.name}: {text!r} answered {got!r}, not {outcome!r}")
        return answer


def _percentiles(label: str, ms: list[float]) -> str:
    a = np.array(ms)
    return (f"{label}: p50 {np.percentile(a, 50):.1f} ms  p99 {np.percentile(a, 99):.1f} ms  "
            f"max {a.max():.1f} ms")


def across_processes(redis_url: str, prefix: str, questions: int) -> None:
    if not 0 < questions <= len(QUESTIONS):
        raise SystemExit(f"--questions: 1 to {len(QUESTIONS)}")
    system = f"You help customers of web shop #{uuid.uuid4().hex[:8]}."
    with tempfile.TemporaryDirectory() as tmp:
        services: list[Service] = []
        try:
            services += [_serve(Path(tmp), "a", redis_url, prefix)]
            services += [_serve(Path(tmp), "b", redis_url, prefix)]
            a, b = Asker(services[0], system), Asker(services[1], system)
            # Positive control (and warm-up): b answers a reworded question from its own entry.
            b.expect("How do I change my email address?", "miss")
            b.expect("How can I change my email address?", "semantic", store=False)
            a.expect("What are your opening hours?", "miss")
            delays: list[float] = []
            probes: list[float] = []
            tries: list[int] = []
            answers: set[str] = set()
            for verb, thing in QUESTIONS[:questions]:
                reworded = f"How can I {verb} my {thing}?"
                b.expect(reworded, "miss", store=False)
                answer = a.expect(f"How do I {verb} my {thing}?", "miss")
                stored = time.perf_counter()
                outcome, n = "", 0
                while outcome != "semantic":
                    if n == 10_000:
                        raise SystemExit(f"b never answered {reworded!r} from a's entry")
                    if n:
                        time.sleep(0.005)
                    sent = time.perf_counter()
                    outcome, shared = b.ask(reworded, store=False)
                    done = time.perf_counter()
                    probes.append((done - sent) * 1000)
                    n += 1
                if shared != answer:
                    raise SystemExit(f"b answered {reworded!r} with another entry: {shared!r}")
                delays.append((done - stored) * 1000)
                tries.append(n)
                answers.add(answer)
            print(f"{questions} questions stored on A (tokenthrift serve), reworded on B "
                  f"(tokenthrift serve), shared through Redis; B polled every 5 ms; "
                  f"{len(answers)} distinct answers")
            print(_percentiles("A's response -> B answers 'semantic'", delays))
            print(_percentiles("B probe latency (embed + lookup + HTTP)", probes))
            print(f"B probes per question: 1 on {tries.count(1)} of {questions}, "
                  f"max {max(tries)}")
        finally:
            for service in services:
                service.stop()


# -- two ``SharedIndex`` matchers in one process --------------------------------------------


def in_one_process(redis_url: str, prefix: str, entries: int, preload: int) -> None:
    a, b = replica(redis_url, prefix), replica(redis_url, prefix)
    try:
        delays = []
        for i in range(entries):
            entry_id = f"e{i}"
            started = time.perf_counter()
            a.add(f"p{i % 50}", f"question {i}", entry_id, time.time() + 3600)
            while entry_id not in b.local._table.slot_of:
                time.sleep(0.0002)
            delays.append((time.perf_counter() - started) * 1000)
        ms = np.array(delays)
        print(f"add on A -> visible on B, {entries} entries: p50 {np.percentile(ms, 50):.2f} ms"
              f"  p99 {np.percentile(ms, 99):.2f} ms  max {ms.max():.2f} ms")
        for i in range(preload - entries):
            a.add(f"p{i % 50}", f"preloaded {i}", f"pre{i}", time.time() + 3600)
        started = time.perf_counter()
        c = replica(redis_url, prefix)
        took = time.perf_counter() - started
        client = redis.Redis.from_url(redis_url)
        print(f"a replica starting on {len(c)} entries ({client.xlen(log_key(prefix))} stream "
              f"records) catches up in {took:.2f} s")
        client.close()
        c.close()
    finally:
        a.close()
        b.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--entries", type=int, default=500)
    parser.add_argument("--preload", type=int, default=20_000)
    parser.add_argument("--processes", action="store_true",
                        help="two tokenthrift serve processes, measured through HTTP")
    parser.add_argument("--questions", type=int, default=50,
                        help=f"with --processes: questions (at most {len(QUESTIONS)})")
    args = parser.parse_args()
    prefix = f"tt-bench:{uuid.uuid4().hex[:8]}"
    try:
        if args.processes:
            across_processes(args.redis, prefix, args.questions)
        else:
            in_one_process(args.redis, prefix, args.entries, args.preload)
    finally:
        client = redis.Redis.from_url(args.redis)
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.unlink(*keys)
        client.close()


if __name__ == "__main__":
    main()

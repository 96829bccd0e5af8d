"""The Redis counter backend: budgets and rate limits shared by every gateway replica.

Each operation is one Lua script (Redis runs a script atomically), covering all the
budgets and limits of a request: one round trip to admit, one to settle. Layout, under
``governance.redis_prefix``:

* ``b:<scope>:<subject>:<period>:<tag>`` — HASH {spent, reserved} in nano-USD,
* ``…:exp`` — ZSET reservation id → expiry (ms, Redis clock),
* ``…:amt`` — HASH reservation id → amount,
* ``rl:<key|team>:<id>:<rpm|tpm>`` — the GCRA arrival time (ms, Redis clock),
* ``version`` — the version of keys and budgets, bumped (INCR) by every change made
  through the store; the admit script compares it with the version the replica's copy
  was read at and answers "stale" instead of admitting when it moved.

Times come from the Redis server (``TIME``), so replicas with skewed clocks agree on
rate limits and on when a reservation expires. A reservation that outlives its TTL (its
replica died) is dropped by the next admit that finds the budget full, which is the
only moment it matters. Budget keys expire a week after their period ends.

A budget counter is seeded from the ledger when its key is missing (first use of a
period, or Redis lost its data); the seed script only writes a missing key, so two
replicas seeding at once cannot double-count. All keys of one request must live on one
node: use one Redis (or Sentinel), or put a hash tag such as ``{tt}`` in the prefix for
Redis Cluster.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import redis.asyncio as aioredis

from .counters import (
    VERSION_KEY,
    BudgetHold,
    BudgetRefusal,
    Outcome,
    RateRefusal,
    Stale,
    Unseeded,
)
from .rate_limits import RateCharge

_GRACE_S = 7 * 86_400
_MAX_CONNECTIONS = 64

_ADMIT = """
local nr, nb = tonumber(ARGV[1]), tonumber(ARGV[2])
local res, ttl = ARGV[3], tonumber(ARGV[4])
local expected = ARGV[#ARGV]
if expected ~= '' then
  local current = redis.call('GET', KEYS[#KEYS]) or '0'
  if current ~= expected then return {4, current} end
end
local missing = {3}
for i = 1, nb do
  if redis.call('EXISTS', KEYS[nr + 3*i - 2]) == 0 then missing[#missing + 1] = i end
end
if #missing > 1 then return missing end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local period = 60000
local tats = {}
for j = 1, nr do
  local limit, cost = tonumber(ARGV[3 + 2*j]), tonumber(ARGV[4 + 2*j])
  local start = now
  local tat = tonumber(redis.call('GET', KEYS[j]))
  if tat and tat > now then start = tat end
  local new = start + cost * period / limit
  if new - period - now > 0 then return {1, j, math.ceil(new - period - now)} end
  tats[j] = new
end
local base = 4 + 2*nr
for i = 1, nb do
  local state, exp, amt = KEYS[nr + 3*i - 2], KEYS[nr + 3*i - 1], KEYS[nr + 3*i]
  local limit, amount = tonumber(ARGV[base + 3*i - 2]), tonumber(ARGV[base + 3*i - 1])
  local v = redis.call('HMGET', state, 'spent', 'reserved')
  local spent, reserved = tonumber(v[1]) or 0, tonumber(v[2]) or 0
  if spent + reserved + amount > limit then
    local expired = redis.call('ZRANGEBYSCORE', exp, '-inf', now)
    if #expired > 0 then
      local freed = 0
      for _, id in ipairs(expired) do
        freed = freed + (tonumber(redis.call('HGET', amt, id)) or 0)
        redis.call('HDEL', amt, id)
      end
      redis.call('ZREMRANGEBYSCORE', exp, '-inf', now)
      reserved = redis.call('HINCRBY', state, 'reserved', 0 - freed)
    end
    if spent + reserved + amount > limit then return {2, i, spent, reserved} end
  end
end
for j = 1, nr do
  redis.call('SET', KEYS[j], string.format('%.3f', tats[j]), 'PX', math.ceil(tats[j] - now) + 1000)
end
for i = 1, nb do
  local state, exp, amt = KEYS[nr + 3*i - 2], KEYS[nr + 3*i - 1], KEYS[nr + 3*i]
  local amount, keyttl = ARGV[base + 3*i - 1], tonumber(ARGV[base + 3*i])
  redis.call('HINCRBY', state, 'reserved', amount)
  redis.call('ZADD', exp, now + ttl, res)
  redis.call('HSET', amt, res, amount)
  if keyttl > 0 then
    redis.call('EXPIRE', state, keyttl)
    redis.call('EXPIRE', exp, keyttl)
    redis.call('EXPIRE', amt, keyttl)
  end
end
return {0}
"""

_SEED = """
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then
    redis.call('HSET', KEYS[i], 'spent', ARGV[2*i - 1], 'reserved', 0)
    local ttl = tonumber(ARGV[2*i])
    if ttl > 0 then redis.call('EXPIRE', KEYS[i], ttl) end
  end
end
return 0
"""

_SETTLE = """
local nr, nb = tonumber(ARGV[1]), tonumber(ARGV[2])
local res, actual = ARGV[3], ARGV[4]
if nr > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  for j = 1, nr do
    local limit, delta = tonumber(ARGV[3 + 2*j]), tonumber(ARGV[4 + 2*j])
    local tat = tonumber(redis.call('GET', KEYS[j]))
    if tat and delta ~= 0 then
      local new = tat + delta * 60000 / limit
      if new > now then
        redis.call('SET', KEYS[j], string.format('%.3f', new), 'PX', math.ceil(new - now) + 1000)
      else
        redis.call('DEL', KEYS[j])
      end
    end
  end
end
local out = {}
for i = 1, nb do
  local state, exp, amt = KEYS[nr + 3*i - 2], KEYS[nr + 3*i - 1], KEYS[nr + 3*i]
  if redis.call('EXISTS', state) == 1 then
    local held = redis.call('HGET', amt, res)
    if held then
      redis.call('HDEL', amt, res)
      redis.call('ZREM', exp, res)
      redis.call('HINCRBY', state, 'reserved', 0 - tonumber(held))
    end
    out[i] = redis.call('HINCRBY', state, 'spent', actual)
  else
    out[i] = -1
  end
end
return out
"""

_USAGE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for i = 1, #KEYS / 3 do
  local state, exp, amt = KEYS[3*i - 2], KEYS[3*i - 1], KEYS[3*i]
  if redis.call('EXISTS', state) == 0 then
    out[2*i - 1], out[2*i] = -1, -1
  else
    local expired = redis.call('ZRANGEBYSCORE', exp, '-inf', now)
    local freed = 0
    for _, id in ipairs(expired) do
      freed = freed + (tonumber(redis.call('HGET', amt, id)) or 0)
      redis.call('HDEL', amt, id)
    end
    redis.call('ZREMRANGEBYSCORE', exp, '-inf', now)
    out[2*i] = redis.call('HINCRBY', state, 'reserved', 0 - freed)
    out[2*i - 1] = tonumber(redis.call('HGET', state, 'spent'))
  end
end
return out
"""


class RedisCounters:
    awaits_io = True

    def __init__(self, url: str, prefix: str) -> None:
        self._url = url
        self._prefix = prefix
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: aioredis.Redis | None = None
        self._scripts: dict[str, Any] = {}

    def _bound(self) -> dict[str, Any]:
        # A redis.asyncio connection pool belongs to the event loop that opened it.
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            # A blocking pool: at a burst, requests queue for a connection (each script
            # holds one for well under a millisecond) instead of failing on "too many".
            pool = aioredis.BlockingConnectionPool.from_url(
                self._url, max_connections=_MAX_CONNECTIONS, timeout=5.0, socket_timeout=5.0,
                socket_connect_timeout=3.0)
            self._client = aioredis.Redis.from_pool(pool)  # owns the pool: aclose closes it
            self._loop = loop
            self._scripts = {name: self._client.register_script(source) for name, source in
                             (("admit", _ADMIT), ("seed", _SEED), ("settle", _SETTLE),
                              ("usage", _USAGE))}
        return self._scripts

    def _budget_keys(self, holds: list[BudgetHold]) -> list[str]:
        keys = []
        for hold in holds:
            base = self._prefix + hold.key
            keys += [base, base + ":exp", base + ":amt"]
        return keys

    async def admit(self, reservation: str, holds: list[BudgetHold], amount: int,
                    charges: list[RateCharge], ttl_s: float, version: int | None = None
                    ) -> Outcome:
        keys = [self._prefix + c.name for c in charges] + self._budget_keys(holds)
        keys.append(self._prefix + VERSION_KEY)
        args: list[Any] = [len(charges), len(holds), reservation, int(ttl_s * 1000)]
        for charge in charges:
            args += [charge.limit, charge.cost]
        for hold in holds:
            args += [hold.limit, amount, _key_ttl(hold)]
        args.append("" if version is None else str(version))
        reply = await self._bound()["admit"](keys=keys, args=args)
        code = int(reply[0])
        if code == 0:
            return None
        if code == 4:
            return Stale(int(reply[1]))
        if code == 1:
            return RateRefusal(charges[int(reply[1]) - 1], int(reply[2]) / 1000.0)
        if code == 2:
            return BudgetRefusal(holds[int(reply[1]) - 1], int(reply[2]), int(reply[3]))
        return Unseeded(tuple(holds[int(i) - 1] for i in reply[1:]))

    async def version(self) -> int | None:
        self._bound()
        assert self._client is not None
        return int(await self._client.get(self._prefix + VERSION_KEY) or 0)

    async def seed(self, holds: list[BudgetHold], spent: list[int]) -> None:
        args: list[Any] = []
        for hold, value in zip(holds, spent, strict=True):
            args += [value, _key_ttl(hold)]
        await self._bound()["seed"](keys=[self._prefix + h.key for h in holds], args=args)

    async def settle(self, reservation: str, holds: list[BudgetHold], actual: int,
                     corrections: list[RateCharge]) -> list[int | None]:
        keys = [self._prefix + c.name for c in corrections] + self._budget_keys(holds)
        args: list[Any] = [len(corrections), len(holds), reservation, actual]
        for charge in corrections:
            args += [charge.limit, charge.cost]
        reply = await self._bound()["settle"](keys=keys, args=args)
        return [None if int(v) < 0 else int(v) for v in reply]

    async def usage(self, holds: list[BudgetHold]) -> list[tuple[int, int] | None]:
        if not holds:
            return []
        reply = await self._bound()["usage"](keys=self._budget_keys(holds))
        pairs = [(int(reply[2 * i]), int(reply[2 * i + 1])) for i in range(len(holds))]
        return [None if spent < 0 else (spent, reserved) for spent, reserved in pairs]

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None and self._loop is asyncio.get_running_loop():
            await client.aclose()


def _key_ttl(hold: BudgetHold) -> int:
    end = hold.window.end
    if end is None:
        return 0
    return max(1, math.ceil(end - time.time()) + _GRACE_S)

"""The gateway with its ledger in a real PostgreSQL (the multi-replica set-up)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import psycopg
from psycopg import sql

from gateway_harness import config_for, running_gateway


def test_rows_land_in_postgres_and_match_headers(
    tmp_path: Path, postgres_url: str, postgres_schema: str
) -> None:
    raw = {"storage": {"ledger": postgres_url, "ledger_schema": postgres_schema}}
    with running_gateway(config_for(tmp_path, raw)) as gw:
        client = gw.openai()
        ids = []
        for team in ("search", "support", "search"):
            response = client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": f"hi from {team}"}],
                extra_headers={"x-tokenthrift-team": team})
            ids.append((response.headers["x-tokenthrift-request-id"],
                        Decimal(response.headers["x-tokenthrift-cost-usd"])))
        gw.gateway.writer.flush()

    with psycopg.connect(postgres_url) as conn:
        query = sql.SQL("SELECT request_id, team, cost_pusd FROM {}.ledger").format(
            sql.Identifier(postgres_schema))
        rows = {r[0]: (r[1], r[2]) for r in conn.execute(query)}
    assert len(rows) == 3
    for request_id, header_cost in ids:
        _team, ledger_cost = rows[request_id]
        assert Decimal(ledger_cost).scaleb(-12) == header_cost  # integer pico-USD, exactly
    assert sorted(team for team, _ in rows.values()) == ["search", "search", "support"]

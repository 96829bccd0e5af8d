"""tokenthrift in-process, without HTTP: the documented library entry point."""

from __future__ import annotations

from pathlib import Path

import tokenthrift


async def test_gateway_in_process_prices_and_records(tmp_path: Path) -> None:
    gateway = tokenthrift.build_gateway(tokenthrift.GatewayConfig.embedded_default(str(tmp_path)))
    try:
        request = tokenthrift.openai_chat.parse_request({
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "hi [[emulator:reply=hello]]"}]})
        completion = await gateway.complete(request, tokenthrift.Attribution(team="lib"))
        assert completion.response.choices[0].message.text == "hello"
        assert completion.settlement.actual_usd is not None
        assert completion.settlement.actual_usd > 0
        gateway.writer.flush()
        row = gateway.ledger.get(completion.exchange.request_id)
        assert row is not None and row.team == "lib"
    finally:
        await gateway.aclose()

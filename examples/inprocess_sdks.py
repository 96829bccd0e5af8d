"""No server at all: the official SDKs (and LangChain's ChatOpenAI) with the gateway
inside this process, through ``tokenthrift.http_client()``.

    python examples/inprocess_sdks.py      # embedded default: emulator upstream,
                                           # ledger in ./.tokenthrift/ledger.db
    tokenthrift report spend --by team,task

The SDK's base URL host does not matter; the cost is on the raw response's
``x-tokenthrift-cost-usd`` header, as over HTTP. Pass a config (``GatewayConfig`` or a
YAML path) to ``http_client`` for real providers, budgets and caching.
"""

from __future__ import annotations

import anthropic
import openai

import tokenthrift

HEADERS = {"x-tokenthrift-team": "platform", "x-tokenthrift-task": "inprocess-demo"}


def main(config: tokenthrift.GatewayConfig | str | None = None) -> dict[str, str]:
    with tokenthrift.http_client(config, headers=HEADERS) as http:
        gpt = openai.OpenAI(base_url="http://tokenthrift/v1", api_key="unused", http_client=http)
        raw = gpt.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "One tip for saving tokens?"}])
        claude = anthropic.Anthropic(base_url="http://tokenthrift", api_key="unused",
                                     http_client=http)
        message = claude.messages.create(model="claude-haiku-4-5", max_tokens=100, messages=[
            {"role": "user", "content": "One tip for saving tokens?"}])
        block = message.content[0]
        return {"gpt": raw.parse().choices[0].message.content or "",
                "gpt_cost_usd": raw.headers["x-tokenthrift-cost-usd"],
                "claude": block.text if block.type == "text" else ""}


if __name__ == "__main__":
    for name, text in main().items():
        print(f"{name}: {text}")

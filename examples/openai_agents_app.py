"""The OpenAI Agents SDK through tokenthrift: an agent with a function tool, on the
Responses API (``/v1/responses``), every model call attributed to a team and a task.

    pip install -e '.[examples]'          # openai-agents
    tokenthrift serve &
    python examples/openai_agents_app.py

The agent's ``AsyncOpenAI`` client points at the gateway; the gateway runs each turn
(the tool call, then the answer from the tool's output) through its levers and records
a ledger row per model call. Any configured model can serve it, Claude included.
"""

from __future__ import annotations

import os

import openai
from agents import Agent, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled

GATEWAY = os.environ.get("TOKENTHRIFT_URL", "http://127.0.0.1:8787")
API_KEY = os.environ.get("TOKENTHRIFT_API_KEY", "sk-local")


@function_tool
def service_status(service: str) -> str:
    """Current status of an internal service."""
    return f"{service}: degraded since 09:12 UTC, error rate 4%"


def main(base_url: str = GATEWAY, model: str = "gpt-4o-mini") -> str:
    set_tracing_disabled(True)  # traces would go to OpenAI, not through the gateway
    client = openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key=API_KEY, max_retries=0,
                                default_headers={"x-tokenthrift-team": "ops",
                                                 "x-tokenthrift-task": "oncall-agent"})
    agent = Agent(name="On-call assistant",
                  instructions="Check the service's status with the tool, then summarise.",
                  model=OpenAIResponsesModel(model=model, openai_client=client),
                  tools=[service_status])
    result = Runner.run_sync(agent, "Is the checkout service healthy?")
    return str(result.final_output)


if __name__ == "__main__":
    print(main())

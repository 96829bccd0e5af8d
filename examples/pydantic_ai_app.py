"""pydantic-ai through tokenthrift: an agent with a typed (structured) result, its model
client pointed at the gateway and its calls attributed to a team and a task.

    pip install -e '.[examples]'          # pydantic-ai-slim[openai,anthropic]
    tokenthrift serve &
    python examples/pydantic_ai_app.py
"""

from __future__ import annotations

import os

import openai
from pydantic import BaseModel
from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

GATEWAY = os.environ.get("TOKENTHRIFT_URL", "http://127.0.0.1:8787")
API_KEY = os.environ.get("TOKENTHRIFT_API_KEY", "sk-local")


class Lead(BaseModel):
    company: str
    employees: int
    score: int


def main(base_url: str = GATEWAY) -> Lead:
    client = openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key=API_KEY, max_retries=0,
                                default_headers={"x-tokenthrift-team": "growth",
                                                 "x-tokenthrift-task": "lead-scoring"})
    model = OpenAIChatModel("gpt-4o-mini", provider=OpenAIProvider(openai_client=client))
    agent = Agent(model, output_type=Lead,
                  instructions="Extract the lead and score it from 0 to 100.")
    result = agent.run_sync("Acme Corp, 250 employees, asked for a demo of the enterprise plan.")
    return result.output


if __name__ == "__main__":
    print(main())

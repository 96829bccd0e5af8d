"""LangChain through tokenthrift: ``langchain-openai`` and ``langchain-anthropic`` chat
models pointed at the gateway by base URL, every call attributed to a team and a task.

    pip install -e '.[examples]'          # langchain-openai, langchain-anthropic, ...
    tokenthrift serve &                   # the gateway (embedded default: emulator upstream)
    python examples/langchain_app.py      # or TOKENTHRIFT_URL=http://host:8787 ...
    tokenthrift report spend --by team,task

Nothing else changes in LangChain code: ``base_url`` points at the gateway and
``default_headers`` carry the attribution (the gateway reads ``x-tokenthrift-team``,
``x-tokenthrift-task``, ``x-tokenthrift-user``…). With virtual keys (governance), the
key goes in ``api_key`` as usual.
"""

from __future__ import annotations

import os

from langchain_anthropic import ChatAnthropic
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

GATEWAY = os.environ.get("TOKENTHRIFT_URL", "http://127.0.0.1:8787")
API_KEY = SecretStr(os.environ.get("TOKENTHRIFT_API_KEY", "sk-local"))
TICKET = "My invoice was charged twice this month and support has not answered for a week."


def attributed(task: str) -> dict[str, str]:
    return {"x-tokenthrift-team": "support", "x-tokenthrift-task": task}


def main(base_url: str = GATEWAY) -> dict[str, str]:
    # OpenAI-protocol model, in a prompt | model | parser chain.
    gpt = ChatOpenAI(model="gpt-4o-mini", base_url=f"{base_url}/v1", api_key=API_KEY,
                     default_headers=attributed("ticket-summary"), max_retries=0)
    summarise = (ChatPromptTemplate.from_messages([
        ("system", "Summarise the customer's ticket in one sentence."),
        ("user", "{ticket}"),
    ]) | gpt | StrOutputParser())
    summary = summarise.invoke({"ticket": TICKET})

    # Anthropic-protocol model: the gateway serves /v1/messages too.
    claude = ChatAnthropic(model_name="claude-haiku-4-5", base_url=base_url, api_key=API_KEY,
                           default_headers=attributed("ticket-triage"), max_retries=0,
                           timeout=None, stop=None)
    triage = claude.invoke([("system", "Answer with one word: billing, bug or other."),
                            ("user", TICKET)])
    return {"summary": summary, "triage": str(triage.content)}


if __name__ == "__main__":
    for name, text in main().items():
        print(f"{name}: {text}")

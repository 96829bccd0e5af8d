"""instructor through tokenthrift: structured output (a validated pydantic object) from
the official ``openai`` SDK patched by instructor, pointed at the gateway.

    pip install instructor                 # see the note below
    tokenthrift serve &
    python examples/instructor_app.py

Note: instructor 1.17 pins ``jiter<0.15`` while ``openai`` >= 3.4 needs ``jiter>=0.16``,
so pip can only install it next to an older ``openai`` (3.3); it is therefore not in
the ``examples`` extra, and its test is skipped where instructor is not installed.
"""

from __future__ import annotations

import os

import instructor
import openai
from pydantic import BaseModel

GATEWAY = os.environ.get("TOKENTHRIFT_URL", "http://127.0.0.1:8787")
API_KEY = os.environ.get("TOKENTHRIFT_API_KEY", "sk-local")


class Invoice(BaseModel):
    vendor: str
    total_usd: float
    paid: bool


def main(base_url: str = GATEWAY) -> Invoice:
    client = instructor.from_openai(
        openai.OpenAI(base_url=f"{base_url}/v1", api_key=API_KEY, max_retries=0,
                      default_headers={"x-tokenthrift-team": "finance",
                                       "x-tokenthrift-task": "invoice-extract"}),
        mode=instructor.Mode.TOOLS)
    return client.chat.completions.create(
        model="gpt-4o-mini", response_model=Invoice, max_retries=1,
        messages=[{"role": "user", "content": "Invoice from Globex: $1,250.00, paid on 3 May."}])


if __name__ == "__main__":
    print(main())

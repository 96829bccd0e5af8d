"""The local upstream: speaks OpenAI's and Anthropic's wire protocols offline.

``Emulator.handle`` answers one HTTP exchange in-process; ``create_app`` serves it
over HTTP (``tokenthrift emulator``). Token counts come from real tokenizers, usage
objects and prompt caching follow each provider's documented rules (each module's
docstring cites the behaviour it models), and latency, rate limits and faults are
configurable, so tests, the demo and load tests run without a network.

Hooks for tests and demos:

* ``[[emulator:reply=TEXT]]`` in the last user message makes the model answer TEXT
  verbatim (still cut by ``max_tokens`` and stop sequences).
* ``Emulator.add_fault(Fault(...))`` or ``POST /emulator/faults`` scripts failures;
  ``GET /emulator/stats`` counts requests; ``POST /emulator/reset`` forgets state.
* Any non-empty API key is accepted (``EmulatorConfig.api_keys`` restricts them); the
  key is the organisation that prompt caches and rate limits belong to.
"""

from .app import create_app
from .config import EmulatorConfig, Fault
from .core import Emulator

__all__ = ["Emulator", "EmulatorConfig", "Fault", "create_app"]

"""tokenthrift: an LLM gateway that cuts API spend and accounts for every dollar it saves.

The same pipeline the HTTP gateway runs is usable in-process::

    from tokenthrift import Gateway, GatewayConfig, openai_chat

    gateway = Gateway(GatewayConfig.embedded_default())        # emulator upstream
    request = openai_chat.parse_request({"model": "gpt-4o-mini",
                                         "messages": [{"role": "user", "content": "hi"}]})
    completion = await gateway.complete(request)
    completion.settlement.actual_usd, completion.settlement.baseline_usd
"""

from .config import GatewayConfig, load_config, parse_config
from .errors import GatewayError
from .pipeline import Completion, CompletionStream, Gateway
from .types import Attribution, ChatRequest, ChatResponse, Message, TextPart, Usage
from .wire import anthropic_messages, openai_chat

__version__ = "0.1.0"

__all__ = [
    "Attribution",
    "ChatRequest",
    "ChatResponse",
    "Completion",
    "CompletionStream",
    "Gateway",
    "GatewayConfig",
    "GatewayError",
    "Message",
    "TextPart",
    "Usage",
    "anthropic_messages",
    "load_config",
    "openai_chat",
    "parse_config",
]

"""tokenthrift: an LLM gateway that cuts API spend and accounts for every dollar it saves.

The same pipeline the HTTP gateway runs is usable in-process::

    from tokenthrift import GatewayConfig, build_gateway, openai_chat

    gateway = build_gateway(GatewayConfig.embedded_default())  # emulator upstream
    request = openai_chat.parse_request({"model": "gpt-4o-mini",
                                         "messages": [{"role": "user", "content": "hi"}]})
    completion = await gateway.complete(request)
    completion.settlement.actual_usd, completion.settlement.baseline_usd
"""

from .assembly import build_gateway
from .config import GatewayConfig, load_config, parse_config
from .errors import GatewayError
from .inprocess import InProcessAsyncClient, InProcessClient, async_http_client, http_client
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
    "InProcessAsyncClient",
    "InProcessClient",
    "Message",
    "TextPart",
    "Usage",
    "anthropic_messages",
    "async_http_client",
    "build_gateway",
    "http_client",
    "load_config",
    "openai_chat",
    "parse_config",
]

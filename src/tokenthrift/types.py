"""Canonical, protocol-neutral request/response types.

Wire formats (``tokenthrift.wire``) translate OpenAI chat completions and Anthropic
messages to and from these types at the edge, so every lever, the providers and the
accounting are written once. Nothing here knows about HTTP or JSON field names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

WireFormat = Literal["openai", "anthropic"]
Role = Literal["system", "user", "assistant", "tool"]
# Canonical finish reasons use OpenAI's vocabulary; the Anthropic wire maps
# end_turn/stop_sequence -> stop, max_tokens -> length, tool_use -> tool_calls,
# refusal -> content_filter.
FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]
CacheTTL = Literal["5m", "1h"]


@dataclass(slots=True)
class TextPart:
    text: str
    # Anthropic prompt-caching breakpoint placed on this block (None = no breakpoint).
    cache_control: CacheTTL | None = None
    type: Literal["text"] = "text"


@dataclass(slots=True)
class ImagePart:
    """An image given by URL (``url``) or inline base64 ``data`` with ``media_type``."""

    url: str | None = None
    data: str | None = None
    media_type: str | None = None
    detail: str | None = None
    cache_control: CacheTTL | None = None
    type: Literal["image"] = "image"


ContentPart = TextPart | ImagePart


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, exactly as the model produced it


@dataclass(slots=True)
class Message:
    role: Role
    content: list[ContentPart] = field(default_factory=list)
    # assistant messages: tool calls the model made
    tool_calls: list[ToolCall] = field(default_factory=list)
    # tool messages: which call this result answers
    tool_call_id: str | None = None
    # tool messages: the result is an error (Anthropic ``is_error``)
    is_error: bool = False
    name: str | None = None

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.content if isinstance(p, TextPart))


@dataclass(slots=True)
class Tool:
    name: str
    description: str | None = None
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    cache_control: CacheTTL | None = None


@dataclass(slots=True)
class WireNotes:
    """What the gateway's wire parsers noted about a request for same-wire pass-through.

    Only ``tokenthrift.wire`` parsers write these, from fields they validated; no client
    key maps here (a client body key starting with "_" is rejected), so a client cannot
    set gateway state such as which field carries the output limit.
    """

    # The OpenAI client sent the deprecated ``max_tokens`` (not max_completion_tokens).
    legacy_max_tokens: bool = False
    # OpenAI function tools the client marked ``strict`` (Tool has no such field).
    strict_tools: list[str] = field(default_factory=list)
    # Anthropic server tools (web search, bash...): typed, run at Anthropic.
    server_tools: list[dict[str, Any]] = field(default_factory=list)

    def affecting_answer(self) -> dict[str, Any]:
        """The notes that can change the model's answer (cache keys include these)."""
        out: dict[str, Any] = {}
        if self.strict_tools:
            out["strict_tools"] = sorted(self.strict_tools)
        if self.server_tools:
            out["server_tools"] = self.server_tools
        return out


@dataclass(slots=True)
class ChatRequest:
    """A chat request as the client asked for it, independent of wire format.

    ``messages`` holds system messages first (OpenAI ``system``/``developer`` messages,
    Anthropic top-level ``system``). ``extra`` keeps wire-specific parameters that have
    no canonical field; providers pass them through only when the upstream speaks the
    same wire format as ``source_format``.
    """

    model: str
    messages: list[Message]
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    n: int = 1
    stream: bool = False
    tools: list[Tool] = field(default_factory=list)
    # "auto" | "none" | "required" | {"name": tool_name}
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    # OpenAI response_format object, passed through (translated to a system hint for Anthropic)
    response_format: dict[str, Any] | None = None
    # "low" | "medium" | "high" for reasoning models (OpenAI reasoning_effort)
    reasoning_effort: str | None = None
    # Anthropic extended thinking budget in tokens (``thinking.budget_tokens``)
    thinking_budget: int | None = None
    # OpenAI prompt_cache_key, passed to OpenAI-protocol upstreams
    prompt_cache_key: str | None = None
    # Client asked for usage in the stream (OpenAI stream_options.include_usage);
    # Anthropic streams always carry usage.
    include_usage: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    source_format: WireFormat = "openai"
    # Client parameters with no canonical field, verbatim (never gateway state).
    extra: dict[str, Any] = field(default_factory=dict)
    wire_notes: WireNotes = field(default_factory=WireNotes)

    @property
    def system_text(self) -> str:
        return "\n".join(m.text for m in self.messages if m.role == "system")


@dataclass(slots=True)
class Usage:
    """Tokens by how they are billed.

    ``input_tokens`` is *uncached* input only (Anthropic semantics): the OpenAI wire
    reports ``prompt_tokens`` including cached tokens, so the OpenAI translation subtracts
    ``cached_tokens`` to fill this. ``output_tokens`` includes ``reasoning_tokens``
    (both providers bill reasoning/thinking as output); ``reasoning_tokens`` is the
    breakdown.
    """

    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def cache_write_tokens(self) -> int:
        return self.cache_write_5m_tokens + self.cache_write_1h_tokens

    @property
    def total_input_tokens(self) -> int:
        """All prompt tokens: uncached + cache read + cache write (OpenAI ``prompt_tokens``)."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens

    @property
    def total_tokens(self) -> int:
        return self.total_input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_write_5m_tokens + other.cache_write_5m_tokens,
            self.cache_write_1h_tokens + other.cache_write_1h_tokens,
            self.output_tokens + other.output_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
        )


@dataclass(slots=True)
class Choice:
    index: int
    message: Message
    finish_reason: FinishReason | None = "stop"


@dataclass(slots=True)
class ChatResponse:
    id: str
    model: str
    choices: list[Choice]
    usage: Usage
    created: int = 0
    # Wire-specific fields of the upstream response (e.g. OpenAI system_fingerprint),
    # re-emitted when the client speaks the upstream's wire format.
    extra: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------
# Streaming: a provider's stream is a sequence of these canonical events. Wire
# renderers turn them into OpenAI chunks or Anthropic events; the order is
# StreamStart, then deltas (any interleaving of choices), then one StreamFinish
# per choice, then at most one StreamUsage (always last).


@dataclass(slots=True)
class StreamStart:
    id: str
    model: str
    created: int = 0
    # Usage known at the start (Anthropic message_start carries input usage).
    usage: Usage | None = None


@dataclass(slots=True)
class TextDelta:
    text: str
    index: int = 0


@dataclass(slots=True)
class ToolCallDelta:
    """A piece of one tool call. ``id``/``name`` arrive on the first delta of a call."""

    tool_index: int
    arguments: str = ""
    id: str | None = None
    name: str | None = None
    index: int = 0


@dataclass(slots=True)
class StreamFinish:
    finish_reason: FinishReason | None
    index: int = 0


@dataclass(slots=True)
class StreamUsage:
    usage: Usage


StreamEvent = StreamStart | TextDelta | ToolCallDelta | StreamFinish | StreamUsage


@dataclass(slots=True)
class EmbeddingRequest:
    model: str
    input: list[str]
    dimensions: int | None = None
    encoding_format: str | None = None
    user: str | None = None


@dataclass(slots=True)
class EmbeddingResponse:
    model: str
    vectors: list[list[float]]
    input_tokens: int


@dataclass(slots=True)
class Attribution:
    """Who caused a request; goes on the ledger row and drives budgets."""

    key_id: str | None = None
    team: str | None = None
    user: str | None = None
    customer: str | None = None
    tags: list[str] = field(default_factory=list)
    task: str | None = None

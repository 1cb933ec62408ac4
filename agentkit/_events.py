"""The events of a run, as two discriminated unions.

:data:`AssistantEvent` is what a provider streams while a model answers.
:data:`AgentEvent` is what :func:`~agentkit.agent_loop` streams for a whole run.
Match on the classes::

    match event:
        case MessageUpdate(delta=TextDelta(text=text)):
            print(text, end="")
        case ToolExecutionEnd(result=result):
            ...

Every event also has a ``type`` string, for logs and JSON.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, TypeAlias

from attrs import define, field

from agentkit._messages import (
    AssistantContent,
    AssistantMessage,
    Message,
    StopReason,
    ToolCall,
    ToolResultMessage,
    Usage,
)

if TYPE_CHECKING:
    from agentkit._pause import Paused

__all__ = [
    "AgentEnd",
    "AgentEvent",
    "AgentStart",
    "AssistantDelta",
    "AssistantEvent",
    "BlockEnd",
    "MessageEnd",
    "MessageStart",
    "MessageUpdate",
    "StreamStart",
    "TextDelta",
    "ThinkingDelta",
    "ToolCallDelta",
    "ToolCallStart",
    "ToolExecutionEnd",
    "ToolExecutionStart",
    "ToolExecutionUpdate",
    "TurnEnd",
    "TurnStart",
]

# --------------------------------------------------------------------------- provider stream


@define(frozen=True, slots=True)
class StreamStart:
    """The model began answering; ``message`` is empty but names model and provider."""

    type: ClassVar[str] = "stream_start"
    message: AssistantMessage


@define(frozen=True, slots=True)
class TextDelta:
    """More text for the content block at ``index``."""

    type: ClassVar[str] = "text_delta"
    index: int
    text: str


@define(frozen=True, slots=True)
class ThinkingDelta:
    """More reasoning for the thinking block at ``index``."""

    type: ClassVar[str] = "thinking_delta"
    index: int
    thinking: str


@define(frozen=True, slots=True)
class ToolCallStart:
    """The model began a tool call; its arguments follow as deltas."""

    type: ClassVar[str] = "tool_call_start"
    index: int
    id: str
    name: str


@define(frozen=True, slots=True)
class ToolCallDelta:
    """A fragment of a tool call's JSON arguments (not valid JSON on its own)."""

    type: ClassVar[str] = "tool_call_delta"
    index: int
    arguments: str


@define(frozen=True, slots=True)
class BlockEnd:
    """The content block at ``index`` is complete; ``block`` is its final value."""

    type: ClassVar[str] = "block_end"
    index: int
    block: AssistantContent


AssistantDelta: TypeAlias = TextDelta | ThinkingDelta | ToolCallStart | ToolCallDelta | BlockEnd
AssistantEvent: TypeAlias = StreamStart | AssistantDelta

# --------------------------------------------------------------------------- agent run


@define(frozen=True, slots=True)
class AgentStart:
    """The run began."""

    type: ClassVar[str] = "agent_start"
    run_id: str


@define(frozen=True, slots=True)
class TurnStart:
    """A turn began: one model request and the tools it asks for. Turns count from 1."""

    type: ClassVar[str] = "turn_start"
    turn: int


@define(frozen=True, slots=True)
class MessageStart:
    """A message began. For the assistant, ``message`` is still empty."""

    type: ClassVar[str] = "message_start"
    message: Message


@define(frozen=True, slots=True)
class MessageUpdate:
    """The assistant's message grew by ``delta``."""

    type: ClassVar[str] = "message_update"
    delta: AssistantDelta


@define(frozen=True, slots=True)
class MessageEnd:
    """A message is complete and has joined the conversation."""

    type: ClassVar[str] = "message_end"
    message: Message


@define(frozen=True, slots=True)
class ToolExecutionStart:
    """A tool began running with ``call.arguments``.

    ``final_result`` is true for a call of the output tool (an agent with an
    ``output_type``): its arguments are the run's output, checked, not run.
    """

    type: ClassVar[str] = "tool_execution_start"
    call: ToolCall
    final_result: bool = False


@define(frozen=True, slots=True)
class ToolExecutionUpdate:
    """A running tool reported progress."""

    type: ClassVar[str] = "tool_execution_update"
    call: ToolCall
    progress: str


@define(frozen=True, slots=True)
class ToolExecutionEnd:
    """A tool finished; ``result.is_error`` tells whether it failed.

    ``final_result`` is true for a call of the output tool; ``result.is_error``
    then says the output was refused (the model is asked again).
    """

    type: ClassVar[str] = "tool_execution_end"
    call: ToolCall
    result: ToolResultMessage
    final_result: bool = False


@define(frozen=True, slots=True)
class TurnEnd:
    """A turn ended. ``message`` is None when the turn failed before the model answered."""

    type: ClassVar[str] = "turn_end"
    turn: int
    message: AssistantMessage | None
    tool_results: tuple[ToolResultMessage, ...] = ()


@define(frozen=True, slots=True)
class AgentEnd:
    """The run ended: every message it added, the summed usage and why it stopped.

    ``paused`` is the run's state when it stopped with ``StopReason.PAUSED``.
    """

    type: ClassVar[str] = "agent_end"
    messages: tuple[Message, ...]
    usage: Usage
    stop_reason: StopReason = field(default=StopReason.STOP)
    paused: Paused | None = None


AgentEvent: TypeAlias = (
    AgentStart
    | TurnStart
    | MessageStart
    | MessageUpdate
    | MessageEnd
    | ToolExecutionStart
    | ToolExecutionUpdate
    | ToolExecutionEnd
    | TurnEnd
    | AgentEnd
)

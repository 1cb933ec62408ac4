"""The run's events as plain JSON (for clients following a durable run), and an answer's deltas.

The model activity returns the whole answer; :func:`answer_deltas` turns it
back into the deltas a provider would have streamed, one per block (a text
block's text in one ``TextDelta``), so listeners and clients see the same
kinds of events as in-process.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from agentkit._errors import SerializationError
from agentkit._events import (
    AgentEnd,
    AgentEvent,
    AgentStart,
    AssistantDelta,
    BlockEnd,
    MessageEnd,
    MessageStart,
    MessageUpdate,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStart,
    ToolExecutionEnd,
    ToolExecutionStart,
    ToolExecutionUpdate,
    TurnEnd,
    TurnStart,
)
from agentkit._messages import (
    AssistantMessage,
    StopReason,
    TextContent,
    ThinkingContent,
    ToolCall,
    ToolResultMessage,
    Usage,
    content_from_dict,
    message_from_dict,
)
from agentkit._pause import Paused

__all__ = ["answer_deltas", "event_from_dict", "event_to_dict"]


def answer_deltas(answer: AssistantMessage) -> list[AssistantDelta]:
    """The deltas that stream ``answer``, one piece per block, each block then ended."""
    deltas: list[AssistantDelta] = []
    for index, block in enumerate(answer.content):
        if isinstance(block, TextContent):
            deltas.append(TextDelta(index, block.text))
        elif isinstance(block, ThinkingContent):
            if not block.redacted:
                deltas.append(ThinkingDelta(index, block.thinking))
        else:
            deltas.append(ToolCallStart(index, block.id, block.name))
            arguments = json.dumps(block.arguments, separators=(",", ":"), ensure_ascii=False)
            deltas.append(ToolCallDelta(index, arguments))
        deltas.append(BlockEnd(index, block))
    return deltas


def _delta_to_dict(delta: AssistantDelta) -> dict[str, Any]:
    if isinstance(delta, TextDelta):
        return {"type": delta.type, "index": delta.index, "text": delta.text}
    if isinstance(delta, ThinkingDelta):
        return {"type": delta.type, "index": delta.index, "thinking": delta.thinking}
    if isinstance(delta, ToolCallStart):
        return {"type": delta.type, "index": delta.index, "id": delta.id, "name": delta.name}
    if isinstance(delta, ToolCallDelta):
        return {"type": delta.type, "index": delta.index, "arguments": delta.arguments}
    return {"type": delta.type, "index": delta.index, "block": delta.block.to_dict()}


_DELTAS: dict[str, Callable[[Mapping[str, Any]], AssistantDelta]] = {
    "text_delta": lambda d: TextDelta(d["index"], d["text"]),
    "thinking_delta": lambda d: ThinkingDelta(d["index"], d["thinking"]),
    "tool_call_start": lambda d: ToolCallStart(d["index"], d["id"], d["name"]),
    "tool_call_delta": lambda d: ToolCallDelta(d["index"], d["arguments"]),
    "block_end": lambda d: BlockEnd(
        d["index"], content_from_dict(d["block"], (TextContent, ThinkingContent, ToolCall))
    ),
}


def event_to_dict(event: AgentEvent) -> dict[str, Any]:
    """``event`` as plain JSON, tagged with its ``type``."""
    out: dict[str, Any] = {"type": event.type}
    if isinstance(event, AgentStart):
        out["run_id"] = event.run_id
    elif isinstance(event, TurnStart):
        out["turn"] = event.turn
    elif isinstance(event, MessageStart | MessageEnd):
        out["message"] = event.message.to_dict()
    elif isinstance(event, MessageUpdate):
        out["delta"] = _delta_to_dict(event.delta)
    elif isinstance(event, ToolExecutionStart):
        out["call"] = event.call.to_dict()
    elif isinstance(event, ToolExecutionUpdate):
        out["call"], out["progress"] = event.call.to_dict(), event.progress
    elif isinstance(event, ToolExecutionEnd):
        out["call"], out["result"] = event.call.to_dict(), event.result.to_dict()
    elif isinstance(event, TurnEnd):
        out["turn"] = event.turn
        out["message"] = None if event.message is None else event.message.to_dict()
        out["tool_results"] = [result.to_dict() for result in event.tool_results]
    else:
        out["messages"] = [message.to_dict() for message in event.messages]
        out["usage"] = event.usage.to_dict()
        out["stop_reason"] = event.stop_reason.value
        out["paused"] = None if event.paused is None else event.paused.to_dict()
    return out


def event_from_dict(data: Mapping[str, Any]) -> AgentEvent:
    """Rebuild an event from :func:`event_to_dict`."""
    kind = data.get("type") if isinstance(data, Mapping) else None
    if kind == "agent_start":
        return AgentStart(data["run_id"])
    if kind == "turn_start":
        return TurnStart(data["turn"])
    if kind == "message_start":
        return MessageStart(message_from_dict(data["message"]))
    if kind == "message_end":
        return MessageEnd(message_from_dict(data["message"]))
    if kind == "message_update":
        delta = data["delta"]
        make = _DELTAS.get(delta.get("type"))
        if make is None:
            raise SerializationError(f"event.delta.type: unknown {delta.get('type')!r}")
        return MessageUpdate(make(delta))
    if kind == "tool_execution_start":
        return ToolExecutionStart(ToolCall.from_dict(data["call"]))
    if kind == "tool_execution_update":
        return ToolExecutionUpdate(ToolCall.from_dict(data["call"]), data["progress"])
    if kind == "tool_execution_end":
        return ToolExecutionEnd(
            ToolCall.from_dict(data["call"]), ToolResultMessage.from_dict(data["result"])
        )
    if kind == "turn_end":
        message = data["message"]
        return TurnEnd(
            data["turn"],
            None if message is None else AssistantMessage.from_dict(message),
            tuple(ToolResultMessage.from_dict(result) for result in data["tool_results"]),
        )
    if kind == "agent_end":
        return AgentEnd(
            tuple(message_from_dict(message) for message in data["messages"]),
            Usage.from_dict(data["usage"]),
            StopReason(data["stop_reason"]),
            None if data.get("paused") is None else Paused.from_dict(data["paused"]),
        )
    raise SerializationError(f"event.type: unknown {kind!r}")

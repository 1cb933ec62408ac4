"""Pause and resume as data: the :class:`Paused` state, :class:`Approval` decisions, the codec.

A run pauses when a tool call needs a human's decision (``@tool(requires_approval=True)``
or ``ToolCallDecision.defer()`` from ``before_tool_call``). The run ends normally
with ``StopReason.PAUSED`` and a :class:`Paused` value that holds everything
resuming needs; :meth:`Paused.to_json` makes it plain JSON, so another process
can resume it. :func:`check_decisions` is the gate a resume passes before
anything runs: it fails closed with :class:`ResumeError`.

The tool fingerprint (:func:`tools_fingerprint`) covers each tool's name, its
parameter schema and whether it needs approval: exactly what decides which
calls are valid and which need a decision. Descriptions, the model, the system
prompt and the Agent class's name are not part of it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from attrs import define, field

from agentkit._errors import AgentkitError, SerializationError
from agentkit._json import canonical_json
from agentkit._messages import (
    AssistantMessage,
    Message,
    ToolCall,
    ToolResultMessage,
    Usage,
    message_from_dict,
)
from agentkit._tools import Tool

__all__ = [
    "SCHEMA_VERSION",
    "Approval",
    "Paused",
    "ResumeError",
    "check_decisions",
    "tools_fingerprint",
]

#: The version of :meth:`Paused.to_json`'s format; another version is refused.
SCHEMA_VERSION = 1
_KIND = "agentkit.paused"


class ResumeError(AgentkitError, ValueError):
    """A resume was refused before anything ran: the decisions, tools or conversation do not fit."""


def _tuple(items: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(items)


def _check_kind(instance: object, attribute: object, value: object) -> None:
    if value not in ("approve", "deny", "replace"):
        raise ValueError(f"Approval.kind must be 'approve', 'deny' or 'replace', got {value!r}")


@define(frozen=True, slots=True)
class Approval:
    """A human's decision on one paused tool call; build it with the three classmethods."""

    kind: Literal["approve", "deny", "replace"] = field(validator=_check_kind)
    reason: str = ""
    arguments: dict[str, Any] | None = None

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.reason, str):
            raise TypeError(f"Approval.reason must be a str, got {type(self.reason).__name__}")
        if (self.kind == "replace") != isinstance(self.arguments, dict):
            raise TypeError("Approval.arguments is a dict for 'replace' and None otherwise")

    @classmethod
    def approve(cls) -> Approval:
        """Run the call as the model asked."""
        return cls("approve")

    @classmethod
    def deny(cls, reason: str = "") -> Approval:
        """Do not run the call; the model gets an error result with ``reason``."""
        return cls("deny", reason)

    @classmethod
    def replace(cls, arguments: dict[str, Any]) -> Approval:
        """Run the call with ``arguments`` instead (checked against the tool's schema)."""
        return cls("replace", arguments=dict(arguments))


def tools_fingerprint(tools: Sequence[Tool]) -> str:
    """A hash of the tools' names, parameter schemas and approval flags, in name order."""
    entries = sorted([t.name, t.definition.parameters, bool(t.requires_approval)] for t in tools)
    return hashlib.sha256(canonical_json(entries).encode()).hexdigest()


@define(frozen=True, slots=True, kw_only=True)
class Paused:
    """A run waiting for decisions on some tool calls, as a value.

    ``messages`` is the conversation so far: it ends with the model's answer
    and the results of its calls that needed no approval (they ran before the
    pause and are not run again); ``pending`` are the answer's other calls,
    waiting for an :class:`Approval` each. ``steering`` holds messages queued
    during the batch, added after the pending calls' results. ``usage``,
    ``requests``, ``tool_calls``, ``seconds`` and ``turn`` are what the run
    had spent so far, so limits hold across the pause (the time spent paused
    does not count). ``agent`` names the Agent class that paused
    (informative: it need not match); ``tools`` and ``fingerprint`` describe
    the tool set, which must match. A state whose pending calls and results
    do not answer the answer's calls exactly once is refused with
    :class:`~agentkit.SerializationError`.
    """

    run_id: str
    agent: str
    tools: tuple[str, ...] = field(converter=_tuple)
    fingerprint: str
    messages: tuple[Message, ...] = field(converter=_tuple)
    pending: tuple[ToolCall, ...] = field(converter=_tuple)
    steering: tuple[Message, ...] = field(default=(), converter=_tuple)
    usage: Usage = field(factory=Usage)
    turn: int = 0
    requests: int = 0
    tool_calls: int = 0
    seconds: float = 0.0
    terminate: bool = False

    def __attrs_post_init__(self) -> None:
        problem = self._problem()
        if problem is not None:
            raise SerializationError(f"Paused is not consistent: {problem}")

    def _problem(self) -> str | None:
        at = _answer_index(self.messages)
        if at is None:
            return "messages must end with the answer whose calls are paused, then results"
        if not self.pending:
            return "no pending calls"
        answer = self.messages[at]
        assert isinstance(answer, AssistantMessage)
        asked = {c.id: c for c in answer.tool_calls}
        ids = [c.id for c in self.pending] + sorted(self.finished)
        if len(ids) != len(set(ids)) or len(self.messages) - at - 1 != len(self.finished):
            return "a call is answered twice, or pending and answered at once"
        if sorted(ids) != sorted(asked):
            return (
                f"pending calls and results ({sorted(ids)}) must answer each call of the "
                f"answer once ({sorted(asked)})"
            )
        for call in self.pending:
            if asked[call.id] != call:
                return f"pending call {call.id!r} differs from the answer's call"
        for name in ("turn", "requests", "tool_calls"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                return f"{name} must be a non-negative int, got {value!r}"
        if not isinstance(self.seconds, int | float) or not 0 <= self.seconds < math.inf:
            return f"seconds must be a finite number >= 0, got {self.seconds!r}"
        return None

    @property
    def answer(self) -> AssistantMessage:
        """The model's answer whose calls are paused."""
        at = _answer_index(self.messages)
        assert at is not None
        answer = self.messages[at]
        assert isinstance(answer, AssistantMessage)
        return answer

    @property
    def finished(self) -> frozenset[str]:
        """The ids of the answer's calls that have their result already."""
        at = _answer_index(self.messages)
        assert at is not None
        return frozenset(
            m.tool_call_id for m in self.messages[at + 1 :] if isinstance(m, ToolResultMessage)
        )

    # ------------------------------------------------------------------ JSON

    def to_dict(self) -> dict[str, Any]:
        """This state as plain JSON data, with ``"version"``."""
        return {
            "type": _KIND,
            "version": SCHEMA_VERSION,
            "run_id": self.run_id,
            "agent": self.agent,
            "tools": list(self.tools),
            "fingerprint": self.fingerprint,
            "messages": [m.to_dict() for m in self.messages],
            "pending": [c.to_dict() for c in self.pending],
            "steering": [m.to_dict() for m in self.steering],
            "usage": self.usage.to_dict(),
            "turn": self.turn,
            "requests": self.requests,
            "tool_calls": self.tool_calls,
            "seconds": self.seconds,
            "terminate": self.terminate,
        }

    def to_json(self) -> str:
        """This state as a JSON text; :meth:`from_json` reads it back in any process."""
        return json.dumps(self.to_dict(), ensure_ascii=False, allow_nan=False, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Any) -> Paused:
        """Rebuild a state from :meth:`to_dict`; bad data is :class:`SerializationError`."""
        if not isinstance(data, Mapping):
            raise SerializationError(f"paused: expected an object, got {type(data).__name__}")
        if data.get("type") != _KIND:
            raise SerializationError(f"paused.type: expected {_KIND!r}, got {data.get('type')!r}")
        version = data.get("version")
        if version != SCHEMA_VERSION or isinstance(version, bool):
            raise SerializationError(
                f"paused.version: this agentkit reads version {SCHEMA_VERSION}, got {version!r}"
            )
        expected = {*_FIELDS, "type", "version"}
        unknown = sorted(set(data) - expected)
        missing = sorted(expected - set(data))
        if unknown or missing:
            raise SerializationError(f"paused: unknown keys {unknown}, missing keys {missing}")
        try:
            return cls(
                run_id=_typed(data, "run_id", str),
                agent=_typed(data, "agent", str),
                tools=[_str(n, "tools") for n in _typed(data, "tools", list)],
                fingerprint=_typed(data, "fingerprint", str),
                messages=[message_from_dict(m) for m in _typed(data, "messages", list)],
                pending=[ToolCall.from_dict(c) for c in _typed(data, "pending", list)],
                steering=[message_from_dict(m) for m in _typed(data, "steering", list)],
                usage=Usage.from_dict(_typed(data, "usage", dict)),
                turn=_count(data, "turn"),
                requests=_count(data, "requests"),
                tool_calls=_count(data, "tool_calls"),
                seconds=float(_typed(data, "seconds", (int, float))),
                terminate=_typed(data, "terminate", bool),
            )
        except SerializationError:
            raise
        except (TypeError, ValueError) as exc:
            raise SerializationError(f"paused: {exc}") from None

    @classmethod
    def from_json(cls, text: str | bytes) -> Paused:
        """Read a state written by :meth:`to_json`; bad text is :class:`SerializationError`."""
        try:
            data = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise SerializationError(f"paused: not JSON: {exc}") from None
        return cls.from_dict(data)


_FIELDS = (
    "run_id",
    "agent",
    "tools",
    "fingerprint",
    "messages",
    "pending",
    "steering",
    "usage",
    "turn",
    "requests",
    "tool_calls",
    "seconds",
    "terminate",
)


def _typed(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = data[key]
    if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
        raise SerializationError(f"paused.{key}: unexpected {type(value).__name__}")
    return value


def _str(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise SerializationError(f"paused.{key}: expected strings, got {type(value).__name__}")
    return value


def _count(data: Mapping[str, Any], key: str) -> int:
    value = _typed(data, key, int)
    if value < 0:
        raise SerializationError(f"paused.{key}: must not be negative, got {value}")
    return int(value)


def _answer_index(messages: Sequence[Message]) -> int | None:
    """Where the last answer is, when only tool results follow it."""
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if isinstance(message, AssistantMessage):
            return index
        if not isinstance(message, ToolResultMessage):
            return None
    return None


# --------------------------------------------------------------------------- resume gate


def check_decisions(
    paused: Paused, decisions: object, tools: Sequence[Tool]
) -> dict[str, Approval]:
    """The decisions for ``paused`` keyed by call id, or :class:`ResumeError` naming the problem.

    Every pending call needs exactly one decision; a decision for any other id
    (a call that needed none, or an unknown one) is refused, and so is a tool
    set whose fingerprint differs, or replaced arguments the schema rejects.
    """
    if not isinstance(paused, Paused):
        raise ResumeError(f"resume needs a Paused value, got {type(paused).__name__}")
    if tools_fingerprint(tools) != paused.fingerprint:
        names = {t.name for t in tools}
        missing = sorted(set(paused.tools) - names)
        extra = sorted(names - set(paused.tools))
        detail = (
            f"missing {missing}, added {extra}"
            if missing or extra
            else "same names, but a parameter schema or an approval flag changed"
        )
        raise ResumeError(f"the tools differ from those of the paused run ({detail})")
    if not isinstance(decisions, Mapping):
        kind = type(decisions).__name__
        raise ResumeError(f"decisions must be a mapping of call ids, got {kind}")
    pending = {c.id: c for c in paused.pending}
    finished = paused.finished
    for key, decision in decisions.items():
        if key in finished:
            raise ResumeError(f"tool call {key!r} needed no approval: it ran before the pause")
        if key not in pending:
            raise ResumeError(f"unknown tool call id {key!r}; pending: {sorted(pending)}")
        if not isinstance(decision, Approval):
            raise ResumeError(
                f"the decision for {key!r} must be an Approval, got {type(decision).__name__}"
            )
    missing_ids = [i for i in pending if i not in decisions]
    if missing_ids:
        raise ResumeError(f"no decision for tool call(s) {missing_ids}")
    by_name = {t.name: t for t in tools}
    for key, decision in decisions.items():
        if decision.arguments is not None:
            call = pending[key]
            problem = by_name[call.name].validate(decision.arguments)
            if problem is not None:
                raise ResumeError(f"replaced arguments for {call.name!r} ({key!r}): {problem}")
    return {key: decisions[key] for key in pending}

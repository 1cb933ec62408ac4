"""The scripted model: what it sees of a request and the replies it gives.

Both front-ends turn their request into a :class:`ModelRequest`; the model
answers with a :class:`Reply`, taken from the test's script (a list consumed
one reply per request, or a callable policy) or from :func:`demo_policy`.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, TypeAlias

from attrs import define, field

from agentkit.testing.emulator._tokens import json_tokens, text_tokens

__all__ = [
    "Block",
    "ModelRequest",
    "ModelPolicy",
    "ModelReply",
    "ModelTool",
    "ToolUse",
    "Turn",
    "demo_policy",
    "output_tokens",
    "thinking_signature",
]

BlockKind = Literal["text", "image", "tool_use", "tool_result", "thinking", "redacted_thinking"]
WireStopReason = Literal[
    "end_turn",
    "tool_use",
    "max_tokens",
    "stop_sequence",
    "refusal",
    "pause_turn",
    "model_context_window_exceeded",
]


@define(frozen=True, slots=True)
class Block:
    """One content block of a turn, in a form common to both APIs.

    ``text`` holds the text, the thinking, or a tool result's text; ``id`` the
    tool call id (tool_use) or the id answered (tool_result).
    """

    kind: BlockKind
    text: str = ""
    id: str = ""
    name: str = ""
    input: Mapping[str, Any] = field(factory=dict)
    is_error: bool = False


def _blocks(value: Iterable[Block]) -> tuple[Block, ...]:
    return tuple(value)


@define(frozen=True, slots=True)
class Turn:
    role: Literal["user", "assistant"]
    blocks: tuple[Block, ...] = field(converter=_blocks)


@define(frozen=True, slots=True)
class ModelTool:
    name: str
    description: str
    parameters: Mapping[str, Any]


@define(frozen=True, slots=True)
class ModelRequest:
    """What the scripted model is shown: the API, model, system text, turns and tools.

    ``output_schema`` is the JSON schema the answer's text must match when the
    request asks for native structured output.
    """

    api: Literal["anthropic", "openrouter"]
    model: str
    system: str
    turns: tuple[Turn, ...]
    tools: tuple[ModelTool, ...]
    max_tokens: int | None
    thinking: bool
    output_schema: Mapping[str, Any] | None = None


@define(frozen=True, slots=True)
class ToolUse:
    """A tool call in a reply; ``id`` is generated when None."""

    name: str
    arguments: Mapping[str, Any] = field(factory=dict)
    id: str | None = None


def _calls(value: Iterable[ToolUse]) -> tuple[ToolUse, ...]:
    return tuple(value)


@define(frozen=True, slots=True)
class ModelReply:
    """A scripted answer: optional thinking, then text, then tool calls.

    ``stop_reason`` None means ``tool_use`` when there are tool calls, else ``end_turn``.
    """

    text: str = ""
    thinking: str | None = None
    tool_calls: tuple[ToolUse, ...] = field(default=(), converter=_calls)
    stop_reason: WireStopReason | None = None

    @property
    def final_stop_reason(self) -> WireStopReason:
        if self.stop_reason is not None:
            return self.stop_reason
        return "tool_use" if self.tool_calls else "end_turn"


ModelPolicy: TypeAlias = Callable[[ModelRequest], ModelReply]


def output_tokens(reply: ModelReply) -> int:
    """The estimate of the tokens a reply generates (at least 1)."""
    total = text_tokens(reply.text) + text_tokens(reply.thinking or "")
    total += sum(text_tokens(c.name) + json_tokens(dict(c.arguments)) for c in reply.tool_calls)
    return max(total, 1)


def thinking_signature(thinking: str) -> str:
    """A deterministic stand-in for the signature of a thinking block."""
    return base64.b64encode(hashlib.sha256(thinking.encode()).digest() * 2).decode()


_STOPWORDS = frozenset(
    {
        "the",
        "and",
        "for",
        "with",
        "what",
        "whats",
        "from",
        "that",
        "this",
        "into",
        "please",
        "tell",
        "about",
        "give",
        "using",
        "use",
        "are",
        "is",
        "was",
        "can",
        "you",
        "your",
        "how",
    }
)
_WORD = re.compile(r"[A-Za-z][A-Za-z']+")
# A minus right after a digit is subtraction (``5-3``), not a sign.
_NUMBER = re.compile(r"(?<![\d.])-?\d+(?:\.\d+)?")


def _words(text: str) -> set[str]:
    return {w.lower().strip("'") for w in _WORD.findall(text)} - _STOPWORDS


def _arguments(tool: ModelTool, text: str) -> dict[str, Any]:
    """Arguments for ``tool`` from its schema: defaults, examples, numbers and names in ``text``."""
    schema = tool.parameters
    props = schema.get("properties", {}) if isinstance(schema, Mapping) else {}
    numbers = [float(n) for n in _NUMBER.findall(text)]
    names = [w for w in _WORD.findall(text)[1:] if w[0].isupper()]
    args: dict[str, Any] = {}
    for name, raw in props.items():
        prop = raw if isinstance(raw, Mapping) else {}
        kind = prop.get("type")
        if "default" in prop:
            args[name] = prop["default"]
        elif prop.get("examples"):
            args[name] = prop["examples"][0]
        elif prop.get("enum"):
            args[name] = prop["enum"][0]
        elif kind in ("number", "integer"):
            value = numbers.pop(0) if numbers else 0
            args[name] = int(value) if kind == "integer" or float(value).is_integer() else value
        elif kind == "boolean":
            args[name] = True
        elif kind == "string":
            args[name] = names.pop() if names else "example"
    return args


# Arithmetic in the text (``2 + 3``, ``7 x 6``) and the words a tool doing it
# would use in its name or description.
_ARITHMETIC = re.compile(r"-?\d+(?:\.\d+)?\s*([-+*/\u00d7x\u00f7])\s*-?\d+(?:\.\d+)?")
_OPERATION_WORDS = {
    "+": frozenset({"add", "adds", "addition", "plus", "sum", "sums", "total"}),
    "-": frozenset({"subtract", "subtracts", "subtraction", "minus", "difference"}),
    "*": frozenset({"multiply", "multiplies", "multiplication", "times", "product"}),
    "/": frozenset({"divide", "divides", "division", "quotient"}),
}
_OPERATORS = {"+": "+", "-": "-", "*": "*", "x": "*", "\u00d7": "*", "/": "/", "\u00f7": "/"}


def _tool_words(tool: ModelTool) -> set[str]:
    return _words(tool.name.replace("_", " ")) | _words(tool.description)


def _choose(tools: Iterable[ModelTool], said: str) -> list[ModelTool]:
    """The tools sharing a word with ``said``; failing that, the ones doing its arithmetic."""
    words = _words(said)
    chosen = [tool for tool in tools if words & _tool_words(tool)]
    if chosen:
        return chosen
    operations = {_OPERATORS[op] for op in _ARITHMETIC.findall(said)}
    wanted = set().union(*(_OPERATION_WORDS[op] for op in operations))
    return [tool for tool in tools if wanted & _tool_words(tool)]


def _last_user_text(turn: Turn) -> str:
    return " ".join(b.text for b in turn.blocks if b.kind == "text")


def demo_policy(request: ModelRequest) -> ModelReply:
    """A deterministic policy good enough for a demo.

    - The last turn is user text and some tools' names or descriptions share a
      word with it: call those tools, arguments derived from their schemas
      (defaults, examples, enum values, numbers and capitalised words of the text).
    - No word is shared but the text holds arithmetic (``2 + 3``, ``6 x 7``):
      call the tools whose name or description names that operation
      (``add``/``sum``/``plus``/``total`` for ``+``, ``subtract``/``minus``,
      ``multiply``/``times``/``product``, ``divide``/``quotient``), the
      numbers in order as their number arguments.
    - The last turn holds tool results: answer with a summary of them.
    - Otherwise: a short answer quoting the user.

    With thinking on, a short thinking block comes first. A request for typed
    output (any of agentkit's modes) gets its output, made from the schema,
    where it would otherwise answer in text.
    """
    # A late import: the output module builds on this module's values.
    from agentkit.testing.emulator._output import (  # noqa: PLC0415
        OUTPUT_TOOL,
        answer_output,
        output_request,
    )

    asked = output_request(request)
    last = request.turns[-1] if request.turns else Turn("user", ())
    results = [b for b in last.blocks if b.kind == "tool_result"]
    thinking = None
    said = _last_user_text(last)
    chosen = _choose([t for t in request.tools if t.name != OUTPUT_TOOL], said)
    if asked is not None and (results or not chosen):
        return answer_output(*asked)
    if results:
        calls = {b.id: b.name for t in request.turns for b in t.blocks if b.kind == "tool_use"}
        parts = [f"{calls.get(b.id, 'tool')}: {b.text}" for b in results]
        text = "Here is what the tools returned. " + "; ".join(parts) + "."
        if request.thinking:
            thinking = f"I have {len(results)} tool result(s); I will summarise them."
        return ModelReply(text=text, thinking=thinking)
    if chosen:
        names = ", ".join(t.name for t in chosen)
        if request.thinking:
            thinking = f"The user asks: {said[:80]}. I should call {names}."
        return ModelReply(
            text=f"Let me use {names}.",
            thinking=thinking,
            tool_calls=tuple(ToolUse(t.name, _arguments(t, said)) for t in chosen),
        )
    if request.thinking:
        thinking = "No tool fits; I will answer directly."
    quoted = said.strip()[:200] or "(nothing)"
    return ModelReply(text=f"You said: {quoted}", thinking=thinking)

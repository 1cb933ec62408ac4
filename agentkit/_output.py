"""Typed output of a run: the output spec, its three modes, validation and retries.

An agent with an ``output_type`` ends its run with a value of that type
instead of free text. The model gives it in one of three modes:

* ``"tool"`` (the default; every provider): the model calls the tool
  :data:`OUTPUT_TOOL_NAME`, whose arguments are the output;
* ``"native"``: the service constrains the answer's text to the JSON schema
  (``ModelOptions.output_schema``; only providers with
  ``supports_native_output(model)`` true);
* ``"prompted"``: the system prompt asks for the JSON and the text is parsed.

Output that does not validate goes back to the model with the problem (an
error tool result, or a user message), at most ``retries`` times; one more
failure ends the run with :class:`~agentkit.OutputValidationError`.

Types become schemas through :func:`_schema_and_converter`, the one place to
change when the type layer grows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Literal, TypeAlias, get_args, get_origin

from attrs import define, field
from jsonschema import Draft202012Validator

from agentkit._errors import OutputValidationError, ToolDefinitionError, UnsupportedOutputError
from agentkit._messages import (
    AssistantMessage,
    StopReason,
    TextContent,
    ToolCall,
    ToolDefinition,
    ToolResultMessage,
    UserMessage,
)
from agentkit._schema import TypeValidationError, type_adapter

__all__ = [
    "DEFAULT_OUTPUT_RETRIES",
    "NO_OUTPUT",
    "OUTPUT_MODES",
    "OUTPUT_TOOL_NAME",
    "TEXT_OUTPUT",
    "OutputJudge",
    "OutputMode",
    "OutputSpec",
    "Verdict",
    "build_output_spec",
    "parse_json_text",
]

OutputMode: TypeAlias = Literal["tool", "native", "prompted"]
OUTPUT_MODES: tuple[OutputMode, ...] = ("tool", "native", "prompted")
#: The name of the tool the model calls with its output in ``"tool"`` mode.
OUTPUT_TOOL_NAME = "final_result"
#: How many invalid outputs are sent back to the model before the run fails.
DEFAULT_OUTPUT_RETRIES = 2
#: The key a non-object output is wrapped in: tool arguments and JSON modes need an object.
WRAPPER_KEY = "result"

_MAX_PROBLEM = 300  # characters per validation problem, as for tool arguments
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_FENCE = re.compile(r"```(?:json)?\s*\n?(.*?)\n?```", re.DOTALL)

TOOL_DESCRIPTION = (
    "Give the final result of the task: call this tool once, when you have the answer; "
    "its arguments are the result."
)
ACCEPTED = "Final result accepted."
IGNORED = "Ignored: the first valid final result of this answer is the one used."
NOT_RUN_ABORTED = "Not used: the run was aborted."


class _Marker:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: ``RunResult`` of a run without an output type: its output is the final text.
TEXT_OUTPUT: Any = _Marker("TEXT_OUTPUT")
#: ``RunResult`` of a run that stopped before the model gave a valid output.
NO_OUTPUT: Any = _Marker("NO_OUTPUT")


class _Invalid(Exception):
    """The model's output does not fit; ``args[0]`` is what the model is told."""


# --------------------------------------------------------------------------- types to schemas


def _schema_and_converter(tp: Any, where: str) -> tuple[dict[str, Any], Callable[[Any], Any]]:
    """The JSON schema of ``tp`` and a checked converter from JSON to a ``tp`` value.

    The type layer's :func:`~agentkit._schema.type_adapter` does both, unions of
    object types included (by a tag field, else the one member the value fits).
    """
    adapter = type_adapter(tp, where)
    return dict(adapter.schema), adapter.validate_json_value


def _type_name(tp: Any) -> str:
    name = getattr(tp, "__name__", None)
    if isinstance(name, str) and _NAME.fullmatch(name) and get_origin(tp) is None:
        return name
    return "output"


# --------------------------------------------------------------------------- the spec


@define(frozen=True, slots=True, eq=False)
class OutputSpec:
    """How a run produces a value of ``type``: the schema the model fills and how it is checked.

    ``schema`` is always an object schema: a type whose schema is not an
    object is wrapped as ``{"result": ...}`` (``wrapped``), since tool
    arguments and the JSON modes need an object.
    """

    type: Any
    mode: OutputMode
    retries: int
    name: str
    schema: dict[str, Any] = field(repr=False)
    wrapped: bool
    _validator: Draft202012Validator = field(alias="validator", repr=False)
    _convert: Callable[[Any], Any] = field(alias="convert", repr=False)

    @property
    def definition(self) -> ToolDefinition:
        """The output tool, as the model sees it (``"tool"`` mode)."""
        return ToolDefinition(self.name, TOOL_DESCRIPTION, self.schema)

    def instructions(self) -> TextContent:
        """The system prompt block of ``"prompted"`` mode: the schema the answer must match."""
        schema = json.dumps(self.schema, sort_keys=True, ensure_ascii=False)
        return TextContent(
            "When you give your final answer, answer with one JSON value and nothing else "
            "(no prose around it) that matches this JSON schema:\n"
            f"<output_schema>\n{schema}\n</output_schema>"
        )

    def claims(self, call: ToolCall) -> bool:
        """Whether ``call`` is a call of the output tool (only in ``"tool"`` mode)."""
        return self.mode == "tool" and call.name == self.name

    def parse_data(self, data: Any) -> Any:
        """The output value for JSON ``data``; raises :class:`_Invalid` naming every problem."""
        errors = sorted(self._validator.iter_errors(data), key=lambda e: (e.json_path, e.message))
        if errors:
            raise _Invalid("; ".join(f"at '{e.json_path}': {_shorten(e.message)}" for e in errors))
        value = data[WRAPPER_KEY] if self.wrapped else data
        try:
            return self._convert(value)
        except _Invalid:
            raise
        except TypeValidationError as exc:  # every problem, with its path, for the model
            raise _Invalid(str(exc)) from None
        except Exception as exc:  # a validator of the type (attrs, for one) refused it
            raise _Invalid(f"{type(exc).__name__}: {_shorten(str(exc))}") from exc

    def parse_call(self, call: ToolCall) -> Any:
        if call.arguments_error is not None:
            raise _Invalid(f"the arguments are not valid JSON: {call.arguments_error}")
        return self.parse_data(call.arguments)

    def parse_text(self, text: str) -> Any:
        """The output value in an answer's text (JSON, possibly in a code fence)."""
        try:
            data = parse_json_text(text, lenient=self.mode == "prompted")
        except ValueError as exc:
            raise _Invalid(str(exc)) from None
        return self.parse_data(data)


def parse_json_text(text: str, *, lenient: bool) -> Any:
    """The JSON value of ``text``; ``lenient`` also finds it in a code fence or among prose."""
    stripped = text.strip()
    if not stripped:
        raise ValueError("the answer is empty; it must be a JSON value")
    candidates = [stripped]
    fenced = _FENCE.search(stripped)
    if fenced:
        candidates.append(fenced.group(1).strip())
    if lenient:
        start, end = stripped.find("{"), stripped.rfind("}")
        if 0 <= start < end:
            candidates.append(stripped[start : end + 1])
    problem = ""
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError as exc:
            problem = problem or str(exc)
    raise ValueError(f"the answer is not JSON ({problem})")


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_PROBLEM else text[: _MAX_PROBLEM - 1] + "…"


def _check_retries(retries: object) -> int:
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise TypeError(f"output_retries must be a non-negative int, got {retries!r}")
    return retries


def build_output_spec(
    output_type: Any,
    mode: object = "tool",
    retries: object = DEFAULT_OUTPUT_RETRIES,
    *,
    tool_names: frozenset[str] = frozenset(),
    native_supported: Callable[[], bool] | None = None,
    provider_name: str = "",
    model: str = "",
) -> OutputSpec | None:
    """The spec for ``output_type``, or None when the output is the text (None or ``str``).

    ``native_supported`` answers whether the provider can constrain this
    model's answer natively; without it, ``"native"`` is refused. Every
    problem is an :class:`~agentkit.UnsupportedOutputError`, raised before
    any request.
    """
    if mode not in OUTPUT_MODES:
        raise UnsupportedOutputError(
            f"output_mode must be one of {', '.join(OUTPUT_MODES)}, got {mode!r}"
        )
    count = _check_retries(retries)
    if output_type is None or output_type is str:
        return None
    where = f"output_type {_describe(output_type)}"
    try:
        schema, convert = _schema_and_converter(output_type, where)
    except ToolDefinitionError as exc:
        raise UnsupportedOutputError(str(exc)) from None
    wrapped = schema.get("type") != "object"
    if wrapped:
        schema = {
            "type": "object",
            "properties": {WRAPPER_KEY: schema},
            "required": [WRAPPER_KEY],
            "additionalProperties": False,
        }
    name = _type_name(output_type)
    schema = {"title": name, **schema}
    try:
        Draft202012Validator.check_schema(schema)
    except Exception as exc:  # an Annotated keyword that is not JSON schema
        raise UnsupportedOutputError(f"{where}: its JSON schema is invalid: {exc}") from None
    if mode == "tool" and OUTPUT_TOOL_NAME in tool_names:
        raise UnsupportedOutputError(
            f"a tool is named {OUTPUT_TOOL_NAME!r}, the name of the output tool; rename it, "
            "or use output_mode='native' or 'prompted'"
        )
    if mode == "native" and (native_supported is None or not native_supported()):
        raise UnsupportedOutputError(
            f"provider {provider_name!r} has no native structured output for model {model!r}; "
            "use output_mode='tool' (every provider) or 'prompted'"
        )
    tool_mode: OutputMode = mode
    return OutputSpec(
        type=output_type,
        mode=tool_mode,
        retries=count,
        name=OUTPUT_TOOL_NAME,
        schema=schema,
        wrapped=wrapped,
        validator=Draft202012Validator(schema),
        convert=convert,
    )


def _describe(tp: Any) -> str:
    if isinstance(tp, type) and not get_args(tp):
        return tp.__qualname__
    return repr(tp).replace("typing.", "")


# --------------------------------------------------------------------------- one run's bookkeeping


@define(frozen=True, slots=True)
class Verdict:
    """What one answer did for the output.

    ``answered`` pairs each output-tool call with its result (to emit and add
    to the history), ``retry`` is the feedback the next turn starts with,
    ``accepted`` says whether ``value`` is the output; ``error`` is set when
    the answer used up the retries.
    """

    answered: tuple[tuple[ToolCall, ToolResultMessage], ...] = ()
    retry: tuple[UserMessage, ...] = ()
    accepted: bool = False
    value: Any = None
    error: OutputValidationError | None = None


# Stops after which a plain-text answer is not an attempt at the output: the run ends.
_NOT_ATTEMPTS = frozenset(
    {StopReason.ABORTED, StopReason.ERROR, StopReason.LENGTH, StopReason.REFUSAL}
)


class OutputJudge:
    """Judges each answer of one run against its :class:`OutputSpec`, counting failures."""

    __slots__ = ("failures", "spec")

    def __init__(self, spec: OutputSpec) -> None:
        self.spec = spec
        self.failures = 0

    def judge(self, answer: AssistantMessage, *, aborted: bool) -> Verdict:
        spec = self.spec
        calls = [c for c in answer.tool_calls if spec.claims(c)]
        if aborted or answer.stop_reason is StopReason.ABORTED:
            # Every call needs a result for the history to stay valid.
            return Verdict(tuple((c, _error(c, NOT_RUN_ABORTED)) for c in calls))
        if calls:
            return self._judge_calls(calls)
        if answer.tool_calls or answer.stop_reason in _NOT_ATTEMPTS:
            return Verdict()  # tools to run first, or a stop that ends the run as it is
        if spec.mode == "tool":
            problem = f"the final result must be a call of the {spec.name} tool, not text"
            feedback = (
                f"Your answer must be a call of the {spec.name} tool, with the result as its "
                f"arguments; plain text is not accepted. Call {spec.name} now."
            )
            return self._failed(problem, retry=(UserMessage(feedback),))
        try:
            value = spec.parse_text(answer.text)
        except _Invalid as exc:
            problem = str(exc)
            feedback = (
                f"Your answer is not valid output: {problem}\n"
                "Answer again with only the JSON value, corrected."
            )
            return self._failed(problem, retry=(UserMessage(feedback),))
        return Verdict(accepted=True, value=value)

    def _judge_calls(self, calls: list[ToolCall]) -> Verdict:
        answered: list[tuple[ToolCall, ToolResultMessage]] = []
        accepted, value, problems = False, None, []
        for call in calls:
            if accepted:
                answered.append((call, ToolResultMessage(call.id, call.name, IGNORED)))
                continue
            try:
                value = self.spec.parse_call(call)
            except _Invalid as exc:
                problems.append(str(exc))
                text = f"Invalid final result: {exc}. Fix it and call {self.spec.name} again."
                answered.append((call, _error(call, text)))
                continue
            accepted = True
            answered.append((call, ToolResultMessage(call.id, call.name, ACCEPTED)))
        if accepted:
            return Verdict(tuple(answered), accepted=True, value=value)
        return self._failed(problems[-1], answered=tuple(answered))

    def _failed(
        self,
        problem: str,
        *,
        retry: tuple[UserMessage, ...] = (),
        answered: tuple[tuple[ToolCall, ToolResultMessage], ...] = (),
    ) -> Verdict:
        self.failures += 1
        if self.failures > self.spec.retries:
            return Verdict(answered, error=OutputValidationError(problem, self.failures))
        return Verdict(answered, retry)


def _error(call: ToolCall, text: str) -> ToolResultMessage:
    return ToolResultMessage(call.id, call.name, text, is_error=True)

"""Tools: Python functions (or hand-written JSON schemas) the model may call.

:func:`tool` turns a typed function into a :class:`Tool`: its JSON schema comes
from the type hints, its descriptions from the docstring. The loop checks the
model's arguments with :meth:`Tool.validate`, then runs :meth:`Tool.execute`,
which converts them to the annotated Python types, calls the function (a sync
one in a worker thread) and normalises the return value into a
:class:`ToolResult`.

Sync tools run in threads of their own: a capacity limiter separate from
anyio's default one, which DNS resolution and other ``to_thread`` users
share, so stuck tools cannot starve them. A thread still running when its
call is cancelled (a timeout, an abort) is abandoned: Python cannot stop
it. agentkit counts such threads until they finish, and while
:attr:`ToolThreadLimits.max_abandoned` of them are still running, sync tools
are refused with :class:`ToolThreadLimitError` instead of leaking more.
See :func:`configure_tool_threads`.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import threading
import types
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, overload

import anyio.lowlevel
import anyio.to_thread
import attrs
from attrs import define, field
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from agentkit._errors import AgentkitError, ToolDefinitionError
from agentkit._json import encodable_text
from agentkit._log import get_logger
from agentkit._messages import (
    TOOL_NAME,
    ImageContent,
    TextContent,
    ToolCall,
    ToolDefinition,
    UserContent,
)
from agentkit._schema import (
    NotJSONError,
    TypeValidationError,
    convert_arguments,
    function_schema,
    schema_problems,
    to_jsonable,
)

__all__ = [
    "Tool",
    "ToolContext",
    "ToolOutputError",
    "ToolResult",
    "ToolThreadLimitError",
    "ToolThreadLimits",
    "abandoned_tool_threads",
    "collect_tools",
    "configure_tool_threads",
    "tool",
]


class ToolOutputError(AgentkitError, TypeError):
    """A tool returned a value that cannot be sent to the model."""


class ToolThreadLimitError(AgentkitError, RuntimeError):
    """A sync tool was not started: too many abandoned tool threads are still running."""


# --------------------------------------------------------------------------- tool threads

_log = get_logger("agentkit.tools")


def _at_least_one(_: object, attribute: attrs.Attribute[int], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attribute.name} must be a positive integer, got {value!r}")


@define(frozen=True, slots=True)
class ToolThreadLimits:
    """How many threads sync tools may use; see :func:`configure_tool_threads`.

    ``max_running`` sync tools run at once (more wait for a slot);
    ``max_abandoned`` is how many abandoned threads may still be running
    before new sync tool calls are refused.
    """

    max_running: int = field(default=40, validator=_at_least_one)
    max_abandoned: int = field(default=20, validator=_at_least_one)


class _ThreadBook:
    """The process's abandoned tool threads: threads are shared by every event loop."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.limits = ToolThreadLimits()
        self.abandoned = 0


_BOOK = _ThreadBook()
_LIMITER: anyio.lowlevel.RunVar[anyio.CapacityLimiter] = anyio.lowlevel.RunVar(
    "agentkit_tool_threads"
)


def configure_tool_threads(
    *, max_running: int | None = None, max_abandoned: int | None = None
) -> ToolThreadLimits:
    """Set the limits for sync tool threads (process-wide); returns the limits in force.

    Omitted arguments keep their current value. The defaults are 40 running
    (as many as anyio's default limiter, but separate slots) and 20 abandoned.
    """
    with _BOOK.lock:
        current = _BOOK.limits
        _BOOK.limits = ToolThreadLimits(
            current.max_running if max_running is None else max_running,
            current.max_abandoned if max_abandoned is None else max_abandoned,
        )
        return _BOOK.limits


def abandoned_tool_threads() -> int:
    """How many abandoned sync tool threads are still running."""
    with _BOOK.lock:
        return _BOOK.abandoned


def _tool_limiter(max_running: int) -> anyio.CapacityLimiter:
    try:
        limiter = _LIMITER.get()
    except LookupError:
        limiter = anyio.CapacityLimiter(max_running)
        _LIMITER.set(limiter)
    if limiter.total_tokens != max_running:
        limiter.total_tokens = max_running
    return limiter


class _ToolThread:
    """One sync call's thread, and whether its caller stopped waiting for it."""

    __slots__ = ("gave_up", "name", "state")

    def __init__(self, name: str) -> None:
        self.name = name
        self.state = "pending"  # then "running", "finished"
        self.gave_up = False

    def run(self, call: Callable[[], Any]) -> Any:
        with _BOOK.lock:
            if self.gave_up:
                return None  # cancelled before the thread started: the call never runs
            self.state = "running"
        try:
            return call()
        finally:
            self._finish()

    def _finish(self) -> None:
        with _BOOK.lock:
            self.state = "finished"
            if not self.gave_up:
                return
            _BOOK.abandoned -= 1
            remaining = _BOOK.abandoned
        _log.info("tool.abandoned_thread_finished", tool=self.name, abandoned=remaining)

    def abandon(self) -> None:
        """The caller stopped waiting: count the thread if it is still running."""
        with _BOOK.lock:
            self.gave_up = True
            if self.state != "running":
                return
            _BOOK.abandoned += 1
            count, cap = _BOOK.abandoned, _BOOK.limits.max_abandoned
        _log.warning("tool.thread_abandoned", tool=self.name, abandoned=count, cap=cap)


async def _run_in_tool_thread(name: str, call: Callable[[], Any]) -> Any:
    with _BOOK.lock:
        limits, abandoned = _BOOK.limits, _BOOK.abandoned
    if abandoned >= limits.max_abandoned:
        raise ToolThreadLimitError(
            f"tool {name!r} was not started: {abandoned} sync tool threads abandoned after "
            f"a timeout or cancel are still running (the cap is {limits.max_abandoned}); "
            "sync tools run again as they finish"
        )
    thread = _ToolThread(name)
    try:
        return await anyio.to_thread.run_sync(
            thread.run, call, abandon_on_cancel=True, limiter=_tool_limiter(limits.max_running)
        )
    except BaseException:
        # Cancelled (or failed): a thread that has not finished runs on without us.
        thread.abandon()
        raise


def _coerce_content(value: str | UserContent | Iterable[UserContent]) -> tuple[UserContent, ...]:
    if isinstance(value, str):
        return (TextContent(value),)
    if isinstance(value, TextContent | ImageContent):
        return (value,)
    items = tuple(value)
    for i, item in enumerate(items):
        if not isinstance(item, TextContent | ImageContent):
            raise ToolOutputError(
                f"ToolResult.content[{i}]: expected TextContent or ImageContent, "
                f"got {type(item).__name__}"
            )
    return items


@define(frozen=True, slots=True)
class ToolResult:
    """What a tool gives back: content for the model, and flags for the loop.

    ``content`` accepts a string, one content block or a sequence of them.
    ``terminate`` asks the loop to end the run once the current batch of tool
    calls is done.
    """

    content: tuple[UserContent, ...] = field(converter=_coerce_content)
    is_error: bool = False
    terminate: bool = False

    @property
    def text(self) -> str:
        """All text blocks joined."""
        return "".join(b.text for b in self.content if isinstance(b, TextContent))


@define(frozen=True, slots=True)
class ToolContext:
    """Given to a tool parameter annotated ``ToolContext``: the call, and progress reports."""

    call: ToolCall
    _reporter: Callable[[str], Awaitable[None]] = field(alias="reporter", repr=False)

    async def report(self, progress: str) -> None:
        """Send a progress message (a ``ToolExecutionUpdate`` event) to the run's listeners.

        From a sync tool, which runs in a worker thread, use
        ``anyio.from_thread.run(context.report, "...")``.
        """
        if not isinstance(progress, str):
            raise TypeError(f"progress must be a str, got {type(progress).__name__}")
        await self._reporter(progress)


def _check_options(label: str, name: str, timeout: float | None) -> None:
    if not isinstance(name, str) or not TOOL_NAME.fullmatch(name):
        raise ToolDefinitionError(
            f"{label}: tool name {name!r} must be 1-64 letters, digits, '_' or '-'"
        )
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise ToolDefinitionError(f"{label}: timeout must be a positive number, got {timeout!r}")


def _validator(label: str, schema: dict[str, Any]) -> Draft202012Validator:
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        path = "".join(f"[{p!r}]" for p in exc.absolute_path)
        raise ToolDefinitionError(
            f"{label}: invalid JSON schema at 'parameters{path}': {exc.message}"
        ) from None
    if schema.get("type") != "object":
        raise ToolDefinitionError(f"{label}: the parameters schema must have type 'object'")
    return Draft202012Validator(schema)


def _is_flag(tool: object, attribute: attrs.Attribute[bool], value: object) -> None:
    if not isinstance(value, bool):
        raise ToolDefinitionError(f"{attribute.name} must be True or False, got {value!r}")


@define(frozen=True, slots=True, eq=False)
class Tool:
    """A function the model can call. Build one with :func:`tool`,
    :meth:`from_function` or :meth:`from_schema`, not with the constructor.

    ``timeout`` overrides the run's tool timeout; a ``sequential`` tool never
    runs at the same time as another tool; a call of a ``requires_approval``
    tool pauses the run until a human decides (:class:`~agentkit.Paused`).
    Calling the tool object calls the underlying function, so decorated
    functions stay easy to unit-test.
    """

    name: str
    description: str
    definition: ToolDefinition = field(repr=False)
    timeout: float | None
    sequential: bool
    _fn: Callable[..., Any] = field(alias="fn", repr=False)
    _validator: Draft202012Validator = field(alias="validator", repr=False)
    _converters: tuple[tuple[str, Callable[[Any], Any]], ...] = field(
        alias="converters", repr=False
    )
    _context_param: str | None = field(alias="context_param", repr=False)
    _is_async: bool = field(alias="is_async", repr=False)
    _unbound: bool = field(alias="unbound", repr=False)  # a method not yet bound to an instance
    _raw: bool = field(alias="raw", repr=False)  # from_schema: handler(arguments, context)
    requires_approval: bool = field(default=False, kw_only=True, validator=_is_flag)

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_function(
        cls,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
        sequential: bool = False,
        requires_approval: bool = False,
    ) -> Tool:
        """A tool from a typed function (sync or async); see :func:`tool`."""
        if isinstance(fn, Tool) or not callable(fn):
            raise ToolDefinitionError(f"expected a function, got {type(fn).__name__}")
        fn_name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
        label = f"tool function {fn_name or type(fn).__name__!r}"
        tool_name = name if name is not None else getattr(fn, "__name__", None)
        if tool_name is None:
            raise ToolDefinitionError(f"{label}: it has no __name__; pass name=")
        _check_options(label, tool_name, timeout)
        built = function_schema(fn, label, ToolContext, (ToolResult, TextContent, ImageContent))
        text = built.description if description is None else description
        if not text.strip():
            _warn_undocumented(tool_name, label)
        return cls(
            name=tool_name,
            description=text,
            definition=ToolDefinition(tool_name, text, built.parameters),
            timeout=timeout,
            sequential=sequential,
            fn=fn,
            validator=_validator(label, built.parameters),
            converters=built.converters,
            context_param=built.context_param,
            is_async=_is_async(fn),
            unbound=built.is_method,
            raw=False,
            requires_approval=requires_approval,
        )

    @classmethod
    def from_schema(
        cls,
        name: str,
        description: str,
        parameters: Mapping[str, Any],
        handler: Callable[[dict[str, Any], ToolContext], Awaitable[Any] | Any],
        *,
        timeout: float | None = None,
        sequential: bool = False,
        requires_approval: bool = False,
    ) -> Tool:
        """A tool from a hand-written JSON schema (Draft 2020-12, ``type: object``).

        ``handler`` gets the validated arguments as a dict and the
        :class:`ToolContext`; a sync handler runs in a worker thread.
        """
        label = f"tool {name!r}"
        _check_options(label, name, timeout)
        if not callable(handler):
            raise ToolDefinitionError(f"{label}: handler must be callable")
        try:
            # A private JSON copy: the caller's dict may change later, the definition must not.
            schema = json.loads(json.dumps(parameters, allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise ToolDefinitionError(f"{label}: parameters are not JSON: {exc}") from None
        if not isinstance(schema, dict):
            raise ToolDefinitionError(f"{label}: parameters must be a JSON object")
        if not isinstance(description, str) or not description.strip():
            if not isinstance(description, str):
                raise ToolDefinitionError(f"{label}: description must be a str")
            _warn_undocumented(name, label)
        return cls(
            name=name,
            description=description,
            definition=ToolDefinition(name, description, schema),
            timeout=timeout,
            sequential=sequential,
            fn=handler,
            validator=_validator(label, schema),
            converters=(),
            context_param=None,
            is_async=_is_async(handler),
            unbound=False,
            raw=True,
            requires_approval=requires_approval,
        )

    # ------------------------------------------------------------------ methods

    def bind(self, instance: object) -> Tool:
        """This method tool with ``self`` bound to ``instance``."""
        if not self._unbound:
            raise ToolDefinitionError(f"tool {self.name!r} is not an unbound method")
        return attrs.evolve(self, fn=types.MethodType(self._fn, instance), unbound=False)

    def __get__(self, instance: object | None, owner: type | None = None) -> Tool:
        if instance is None or not self._unbound:
            return self
        return self.bind(instance)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._fn(*args, **kwargs)

    # ------------------------------------------------------------------ running

    def validate(self, arguments: Mapping[str, Any]) -> str | None:
        """None when ``arguments`` fit, else one message naming the problems.

        Fitting means the schema holds (every problem is named) and the
        arguments convert to the annotated types: a malformed date, a value
        that fits several members of a union, or an error raised by a
        parameter class's own checks is named too. (So conversion runs here
        and again in :meth:`execute`.)
        """
        problems = schema_problems(self._validator, arguments)
        if problems:
            return "; ".join(f"at '{path}': {reason}" for path, reason in problems)
        try:
            self.convert(arguments)
        except TypeValidationError as exc:
            return str(exc)
        return None

    def convert(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """The keyword arguments for the function, from validated JSON arguments.

        Raises :class:`TypeValidationError` for arguments :meth:`validate` rejects.
        """
        return convert_arguments(self._converters, arguments)

    async def execute(self, arguments: Mapping[str, Any], context: ToolContext) -> ToolResult:
        """Run the tool on validated ``arguments`` and normalise what it returns.

        Exceptions the function raises propagate unchanged.
        """
        if self._unbound:
            raise ToolDefinitionError(
                f"tool {self.name!r} is a method: take it from an instance or collect_tools()"
            )
        if self._raw:
            args: tuple[Any, ...] = (dict(arguments), context)
            kwargs: dict[str, Any] = {}
        else:
            args, kwargs = (), self.convert(arguments)
            if self._context_param is not None:
                kwargs[self._context_param] = context
        if self._is_async:
            value = await self._fn(*args, **kwargs)
        else:
            call = functools.partial(self._fn, *args, **kwargs)
            value = await _run_in_tool_thread(self.name, call)
            if inspect.isawaitable(value):
                value = await value
        return self._result(value)

    def _result(self, value: Any) -> ToolResult:
        if isinstance(value, ToolResult):
            return value
        if value is None:
            return ToolResult(())
        if isinstance(value, str):
            return ToolResult(encodable_text(value, "tool result", tool=self.name))
        if isinstance(value, TextContent | ImageContent):
            return ToolResult(value)
        if isinstance(value, list | tuple) and value:
            blocks = [isinstance(v, TextContent | ImageContent) for v in value]
            if all(blocks):
                return ToolResult(value)
            if any(blocks):
                raise ToolOutputError(
                    f"tool {self.name!r} returned a list mixing content blocks with other values"
                )
        try:
            data = to_jsonable(value)
        except NotJSONError as exc:
            raise ToolOutputError(
                f"tool {self.name!r} returned {type(value).__qualname__}, which cannot be sent "
                f"to the model: {exc}"
            ) from None
        text = json.dumps(data, sort_keys=True, ensure_ascii=False, allow_nan=False)
        return ToolResult(encodable_text(text, "tool result", tool=self.name))


def _warn_undocumented(name: str, label: str) -> None:
    # A log record, not warnings.warn: the library is silent unless logging is on
    # (WARNING still reaches stderr by default), and tests treat warnings as errors.
    _log.warning(
        "tool.undocumented",
        tool=name,
        function=label,
        hint="the model sees only the name; add a docstring or pass description=",
    )


def _is_async(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - an object with an async __call__
    )


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    sequential: bool = False,
    requires_approval: bool = False,
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    sequential: bool = False,
    requires_approval: bool = False,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a :class:`Tool` of a typed function; use as ``@tool`` or ``@tool(...)``.

    ``name`` defaults to the function's name, ``description`` to its docstring
    (without the parameter section). On a method (first parameter ``self``)
    the tool binds like a method: ``obj.method`` is the tool bound to ``obj``.
    ``requires_approval`` pauses the run at each call of the tool (see :class:`~agentkit.Paused`).
    """

    def make(f: Callable[..., Any]) -> Tool:
        return Tool.from_function(
            f,
            name=name,
            description=description,
            timeout=timeout,
            sequential=sequential,
            requires_approval=requires_approval,
        )

    return make if fn is None else make(fn)


def collect_tools(obj: object) -> tuple[Tool, ...]:
    """Every tool defined on ``type(obj)`` and its bases, bound to ``obj``.

    Tools come in definition order, base classes first; an override in a
    subclass keeps the base's position, and a non-tool override removes it.
    """
    found: dict[str, Tool] = {}
    for cls in reversed(type(obj).__mro__):
        for attr, raw in vars(cls).items():
            value = raw.__func__ if isinstance(raw, staticmethod) else raw
            if isinstance(value, Tool):
                found[attr] = value
            elif attr in found:
                del found[attr]
    tools = tuple(t.bind(obj) if t._unbound else t for t in found.values())
    names = [t.name for t in tools]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ToolDefinitionError(
            f"{type(obj).__qualname__} defines more than one tool named {', '.join(duplicates)}"
        )
    return tools

"""Tests of agentkit._tools: schemas from type hints, docstrings, validation,
conversion, execution, return values and method tools."""

from __future__ import annotations

import dataclasses
import enum
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, NotRequired, Optional, TypedDict

import anyio
import anyio.from_thread
import anyio.lowlevel
import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from agentkit._errors import AgentkitError, ToolDefinitionError
from agentkit._messages import ImageContent, TextContent, ToolCall
from agentkit._schema import to_jsonable
from agentkit._tools import Tool, ToolContext, ToolOutputError, ToolResult, collect_tools, tool

# --------------------------------------------------------------------------- fixtures


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@attrs.define(frozen=True)
class Point:
    x: float
    y: float = 0.0
    color: Color = Color.RED
    tags: list[str] = attrs.field(factory=list)


@attrs.define(frozen=True)
class Shape:
    name: str
    points: tuple[Point, ...]


class Options(TypedDict):
    depth: int
    label: NotRequired[str]
    color: NotRequired[Color]


class Loose(TypedDict, total=False):
    a: int


@attrs.define
class Node:
    child: Node | None = None


class Plain:
    pass


@attrs.define
class Secretive:
    _size: int = attrs.field(alias="size")
    hidden: str = attrs.field(default="h", init=False)


@dataclasses.dataclass
class Row:
    key: str
    value: float


def schema_of(annotation: Any) -> dict[str, Any]:
    """The schema the tools module gives a single parameter of this type."""

    def fn(x):  # type: ignore[no-untyped-def]
        return x

    fn.__annotations__ = {"x": annotation}
    props: dict[str, Any] = Tool.from_function(fn).definition.parameters["properties"]
    return dict(props["x"])


def make_context(reports: list[str] | None = None) -> ToolContext:
    async def reporter(progress: str) -> None:
        if reports is not None:
            reports.append(progress)

    return ToolContext(ToolCall("call_1", "t", {}), reporter=reporter)


POINT_SCHEMA = {
    "type": "object",
    "properties": {
        "x": {"type": "number"},
        "y": {"type": "number", "default": 0.0},
        "color": {"type": "string", "enum": ["red", "blue"], "default": "red"},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["x"],
    "additionalProperties": False,
}

# --------------------------------------------------------------------------- schemas


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (str, {"type": "string"}),
        (int, {"type": "integer"}),
        (float, {"type": "number"}),
        (bool, {"type": "boolean"}),
        (Any, {}),
        (list[int], {"type": "array", "items": {"type": "integer"}}),
        (list, {"type": "array"}),
        (Sequence[str], {"type": "array", "items": {"type": "string"}}),
        (tuple[int, ...], {"type": "array", "items": {"type": "integer"}}),
        (
            tuple[int, str],
            {
                "type": "array",
                "prefixItems": [{"type": "integer"}, {"type": "string"}],
                "items": False,
                "minItems": 2,
            },
        ),
        (dict[str, int], {"type": "object", "additionalProperties": {"type": "integer"}}),
        (Mapping[str, float], {"type": "object", "additionalProperties": {"type": "number"}}),
        (dict, {"type": "object"}),
        (Literal["a", "b"], {"type": "string", "enum": ["a", "b"]}),
        (Literal[1, "a"], {"enum": [1, "a"]}),
        (Color, {"type": "string", "enum": ["red", "blue"]}),
        (Level, {"type": "integer", "enum": [1, 2]}),
        (Optional[int], {"anyOf": [{"type": "integer"}, {"type": "null"}]}),  # noqa: UP045
        (str | None, {"anyOf": [{"type": "string"}, {"type": "null"}]}),
        (int | str, {"anyOf": [{"type": "integer"}, {"type": "string"}]}),
        (
            int | str | None,
            {"anyOf": [{"type": "integer"}, {"type": "string"}, {"type": "null"}]},
        ),
        (
            Options,
            {
                "type": "object",
                "properties": {
                    "depth": {"type": "integer"},
                    "label": {"type": "string"},
                    "color": {"type": "string", "enum": ["red", "blue"]},
                },
                "required": ["depth"],
                "additionalProperties": False,
            },
        ),
        (
            Loose,
            {
                "type": "object",
                "properties": {"a": {"type": "integer"}},
                "additionalProperties": False,
            },
        ),
        (Point, POINT_SCHEMA),
        (
            Secretive,
            {
                "type": "object",
                "properties": {"size": {"type": "integer"}},
                "required": ["size"],
                "additionalProperties": False,
            },
        ),
        (list[Point], {"type": "array", "items": POINT_SCHEMA}),
        (Annotated[int, "how many"], {"type": "integer", "description": "how many"}),
        (
            Annotated[int, "how many", {"minimum": 1}],
            {"type": "integer", "description": "how many", "minimum": 1},
        ),
        (
            Annotated[str, "first", "second"],
            {"type": "string", "description": "first"},
        ),
        (
            Optional[Annotated[Color, "paint"]],  # noqa: UP045
            {
                "anyOf": [
                    {"type": "string", "enum": ["red", "blue"], "description": "paint"},
                    {"type": "null"},
                ]
            },
        ),
    ],
    ids=repr,
)
def test_schema_of_each_supported_annotation(annotation: Any, expected: dict[str, Any]) -> None:
    schema = schema_of(annotation)
    assert schema == expected
    Draft202012Validator.check_schema(schema)


async def _search(
    query: str,
    *,
    limit: int = 10,
    mode: Literal["fast", "deep"] = "fast",
    color: Color = Color.BLUE,
    where: Point | None = None,
    flags: list[str] | None = None,
    context: ToolContext,
) -> str:
    """Search the index.

    Results come best first.

    Args:
        query: What to look for.
        limit (int): How many results
            to return at most.
    """
    return query


def test_function_schema_top_level() -> None:
    search = tool(_search)
    assert search.name == "_search"
    assert search.description == "Search the index.\n\nResults come best first."
    assert search.definition.name == "_search"
    assert search.definition.description == search.description
    assert search.definition.parameters == {
        "type": "object",
        "properties": {
            "query": {"type": "string", "description": "What to look for."},
            "limit": {
                "type": "integer",
                "description": "How many results to return at most.",
                "default": 10,
            },
            "mode": {"type": "string", "enum": ["fast", "deep"], "default": "fast"},
            "color": {"type": "string", "enum": ["red", "blue"], "default": "blue"},
            "where": {"anyOf": [POINT_SCHEMA, {"type": "null"}], "default": None},
            "flags": {
                "anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}],
                "default": None,
            },
        },
        "required": ["query"],
        "additionalProperties": False,
    }
    assert list(search.definition.parameters["properties"]) == [
        "query",
        "limit",
        "mode",
        "color",
        "where",
        "flags",
    ]


def test_options_and_unserialisable_default() -> None:
    marker = object()

    def fn(a: Any = marker, b: int = 3) -> None:
        """Doc."""

    t = Tool.from_function(
        fn, name="other-name", description="Given.", timeout=2.5, sequential=True
    )
    assert (t.name, t.description, t.timeout, t.sequential) == ("other-name", "Given.", 2.5, True)
    assert t.definition.description == "Given."
    # A default with no JSON form makes the parameter optional without a "default".
    assert t.definition.parameters["properties"] == {
        "a": {},
        "b": {"type": "integer", "default": 3},
    }
    assert "required" not in t.definition.parameters


def test_definition_is_deterministic() -> None:
    first = json.dumps(tool(_search).definition.to_dict())
    second = json.dumps(tool(_search).definition.to_dict())
    assert first == second
    assert first.encode() == second.encode()


# --------------------------------------------------------------------------- docstrings


def test_google_docstring_styles() -> None:
    def fn(a: int, b: str, c: bool = False) -> None:
        """Summary line.

        Body paragraph
        over two lines.

        Arguments:
            a: First, with a long text
                that goes on here
                and here.
            b (str): Second.
            c (bool, optional):
                Third, starting on the next line.

        Returns:
            Nothing.
        """

    t = tool(fn)
    assert (
        t.description
        == "Summary line.\n\nBody paragraph\nover two lines.\n\nReturns:\n    Nothing."
    )
    props = t.definition.parameters["properties"]
    assert props["a"]["description"] == "First, with a long text that goes on here and here."
    assert props["b"]["description"] == "Second."
    assert props["c"]["description"] == "Third, starting on the next line."


def test_sphinx_docstring_style() -> None:
    def fn(a: int, b: str) -> None:
        """Summary.

        :param a: The first
            parameter.
        :type a: int
        :param str b: The second.
        :returns: nothing at all
        """

    t = tool(fn)
    assert t.description == "Summary.\n\n:returns: nothing at all"
    props = t.definition.parameters["properties"]
    assert props["a"]["description"] == "The first parameter."
    assert props["b"]["description"] == "The second."


def test_annotated_description_wins_over_docstring() -> None:
    def fn(a: Annotated[int, "from the annotation"]) -> None:
        """Doc.

        Args:
            a: from the docstring
        """

    assert tool(fn).definition.parameters["properties"]["a"]["description"] == (
        "from the annotation"
    )


def test_no_docstring_gives_empty_description() -> None:
    def fn(a: int) -> None:
        pass

    t = tool(fn)
    assert t.description == ""
    assert t.definition.parameters["properties"]["a"] == {"type": "integer"}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("Doc.\n\nArgs:\n    a: ok\n    colour: typo\n", "documents parameter 'colour'"),
        ("Doc.\n\n:param colour: typo\n", "documents parameter 'colour'"),
        ("Doc.\n\nArgs:\n    a: one\n    a: two\n", "documented twice"),
        ("Doc.\n\nArgs:\n    this is not an entry\n", "cannot read the Args line"),
    ],
)
def test_docstring_errors(doc: str, message: str) -> None:
    def fn(a: int) -> None:
        pass

    fn.__doc__ = doc
    with pytest.raises(ToolDefinitionError, match=message) as info:
        tool(fn)
    assert "fn" in str(info.value)


# --------------------------------------------------------------------------- definition errors


@pytest.mark.parametrize(
    ("annotation", "type_text"),
    [
        (Plain, "Plain"),
        (set[int], "set[int]"),
        (frozenset, "frozenset"),
        (bytes, "bytes"),
        (Callable[[int], int], "Callable"),
        (dict[int, str], "dict[int, str]"),
        (Literal[1.5], "Literal[1.5]"),
        (Path | str, "same JSON schema"),
        (Row | Any, "Any in a union"),
        (Node, "recursive"),
        (list[Plain], "Plain"),
    ],
    ids=repr,
)
def test_unsupported_annotations(annotation: Any, type_text: str) -> None:
    def broken(x):  # type: ignore[no-untyped-def]
        return x

    broken.__annotations__ = {"x": annotation}
    with pytest.raises(ToolDefinitionError) as info:
        Tool.from_function(broken)
    text = str(info.value)
    assert "broken" in text
    assert "parameter 'x'" in text
    assert type_text in text
    assert isinstance(info.value, AgentkitError)


def test_signature_errors() -> None:
    def missing(x, y: int) -> None:  # type: ignore[no-untyped-def]
        pass

    with pytest.raises(ToolDefinitionError, match="parameter 'x' has no type annotation"):
        tool(missing)

    def star(*items: int) -> None:
        pass

    with pytest.raises(ToolDefinitionError, match=r"parameter 'items'.*\*args"):
        tool(star)

    def unresolved(x: NoSuchType) -> None:  # type: ignore[name-defined]  # noqa: F821
        pass

    with pytest.raises(ToolDefinitionError, match=r"unresolved.*NoSuchType"):
        tool(unresolved)

    def bad_meta(x: Annotated[int, 3]) -> None:
        pass

    with pytest.raises(ToolDefinitionError, match="Annotated metadata"):
        tool(bad_meta)

    def two(a: ToolContext, b: ToolContext) -> None:
        pass

    with pytest.raises(ToolDefinitionError, match="only one parameter"):
        tool(two)


@pytest.mark.parametrize("name", ["", "has space", "x" * 65, "dot.name", "new\n", "ünï"])
def test_bad_tool_names(name: str) -> None:
    def fn() -> None:
        pass

    with pytest.raises(ToolDefinitionError, match="tool name"):
        tool(name=name)(fn)
    with pytest.raises(ToolDefinitionError, match="tool name"):
        Tool.from_schema(name, "d", {"type": "object"}, lambda a, c: None)


def test_good_tool_name_limits() -> None:
    def fn() -> None:
        pass

    assert tool(name="a-B_9" + "x" * 59)(fn).name == "a-B_9" + "x" * 59


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf"), True, "5"])
def test_bad_timeouts(timeout: Any) -> None:
    def fn() -> None:
        pass

    with pytest.raises(ToolDefinitionError, match="timeout"):
        tool(timeout=timeout)(fn)


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "object", "properties": {"a": {"type": "nonsense"}}}, "properties"),
        ({"type": "object", "required": "a"}, "required"),
        ({"type": "array"}, "type 'object'"),
        ({"type": "object", "default": float("nan")}, "not JSON"),
    ],
)
def test_from_schema_rejects_bad_schemas(schema: dict[str, Any], message: str) -> None:
    with pytest.raises(ToolDefinitionError, match=message):
        Tool.from_schema("t", "d", schema, lambda a, c: None)


def test_from_schema_copies_the_schema() -> None:
    schema: dict[str, Any] = {"type": "object", "properties": {"a": {"type": "integer"}}}
    t = Tool.from_schema("t", "d", schema, lambda a, c: None)
    schema["properties"]["a"]["type"] = "string"
    assert t.definition.parameters == {"type": "object", "properties": {"a": {"type": "integer"}}}
    assert t.validate({"a": 1}) is None


# --------------------------------------------------------------------------- validation


def _shape_tool(shape: Shape, count: int, color: Color = Color.RED) -> None:
    """Draw."""


def test_validate_accepts_valid_arguments() -> None:
    t = tool(_shape_tool)
    assert t.validate({"shape": {"name": "s", "points": [{"x": 1}]}, "count": 2}) is None


def test_validate_lists_every_problem_with_its_path() -> None:
    t = tool(_shape_tool)
    message = t.validate(
        {"shape": {"name": 1, "points": [{"x": "a"}, {}]}, "color": "green", "extra": True}
    )
    assert message is not None
    assert message.startswith("at '$")
    problems = message.split("; ")
    assert problems == [
        "at '$': 'count' is a required property",
        "at '$': Additional properties are not allowed ('extra' was unexpected)",
        "at '$.color': 'green' is not one of ['red', 'blue']",
        "at '$.shape.name': 1 is not of type 'string'",
        "at '$.shape.points[0].x': 'a' is not of type 'number'",
        "at '$.shape.points[1]': 'x' is a required property",
    ]


def test_validate_rejects_bool_for_int_and_shortens_huge_values() -> None:
    def fn(n: int) -> None:
        pass

    t = tool(fn)
    assert t.validate({"n": True}) == ("at '$.n': True is not of type 'integer'")
    message = t.validate({"n": "x" * 5000})
    assert message is not None
    assert len(message) < 400
    assert message.endswith("…")


# --------------------------------------------------------------------------- conversion


def _convert_all(
    *,
    color: Color,
    level: Level,
    point: Point,
    shapes: list[Shape],
    by_name: dict[str, Color],
    options: Options,
    maybe: Point | None,
    pair: tuple[int, Color],
    whole: int,
    ratio: float,
) -> None:
    """Everything."""


def test_convert_builds_python_types() -> None:
    t = tool(_convert_all)
    arguments = {
        "color": "blue",
        "level": 2,
        "point": {"x": 1, "color": "blue", "tags": ["a"]},
        "shapes": [{"name": "s", "points": [{"x": 0.5}, {"x": 2, "y": 3}]}],
        "by_name": {"a": "red"},
        "options": {"depth": 2, "color": "blue"},
        "maybe": None,
        "pair": [1, "red"],
        "whole": 3.0,
        "ratio": 2,
    }
    assert t.validate(arguments) is None
    kwargs = t.convert(arguments)
    assert kwargs == {
        "color": Color.BLUE,
        "level": Level.HIGH,
        "point": Point(1.0, color=Color.BLUE, tags=["a"]),
        "shapes": [Shape("s", (Point(0.5), Point(2.0, 3.0)))],
        "by_name": {"a": Color.RED},
        "options": {"depth": 2, "color": Color.BLUE},
        "maybe": None,
        "pair": (1, Color.RED),
        "whole": 3,
        "ratio": 2.0,
    }
    assert type(kwargs["options"]) is dict
    assert type(kwargs["shapes"][0].points) is tuple
    assert type(kwargs["whole"]) is int
    assert type(kwargs["ratio"]) is float
    assert kwargs["point"].x.__class__ is float
    # The caller's arguments are not changed.
    assert arguments["color"] == "blue"


# --------------------------------------------------------------------------- execution


@pytest.mark.anyio
async def test_sync_tool_runs_in_a_worker_thread() -> None:
    with anyio.fail_after(5):
        seen: list[int] = []

        @tool
        def where(n: int) -> str:
            """Record the thread."""
            seen.append(threading.get_ident())
            return f"n={n}"

        result = await where.execute({"n": 2}, make_context())
        assert result == ToolResult("n=2")
        assert seen
        assert seen[0] != threading.get_ident()


@pytest.mark.anyio
async def test_async_tool_runs_on_the_event_loop() -> None:
    with anyio.fail_after(5):
        seen: list[int] = []

        @tool
        async def where(color: Color) -> str:
            """Record the thread."""
            await anyio.lowlevel.checkpoint()
            seen.append(threading.get_ident())
            return color.value

        result = await where.execute({"color": "red"}, make_context())
        assert result.text == "red"
        assert seen == [threading.get_ident()]


@pytest.mark.anyio
async def test_context_injection_and_report() -> None:
    with anyio.fail_after(5):
        reports: list[str] = []
        context = make_context(reports)

        @tool
        async def slow(steps: int, ctx: ToolContext) -> str:
            """Report progress."""
            for i in range(steps):
                await ctx.report(f"step {i}")
            return ctx.call.id

        assert "ctx" not in slow.definition.parameters["properties"]
        assert slow.definition.parameters["required"] == ["steps"]
        result = await slow.execute({"steps": 2}, context)
        assert result.text == "call_1"
        assert reports == ["step 0", "step 1"]


@pytest.mark.anyio
async def test_sync_tool_reports_through_from_thread() -> None:
    with anyio.fail_after(5):
        reports: list[str] = []

        @tool
        def sync_progress(context: ToolContext) -> str:
            """Report from a thread."""
            anyio.from_thread.run(context.report, "halfway")
            return "done"

        result = await sync_progress.execute({}, make_context(reports))
        assert result.text == "done"
        assert reports == ["halfway"]


@pytest.mark.anyio
async def test_report_rejects_non_text() -> None:
    with anyio.fail_after(5), pytest.raises(TypeError, match="progress must be a str"):
        await make_context().report(3)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_cancelled_sync_tool_returns_at_once() -> None:
    with anyio.fail_after(5):
        release = threading.Event()

        @tool
        def stuck() -> str:
            """Block until released."""
            release.wait(10)
            return "late"

        start = time.monotonic()
        with anyio.move_on_after(0.1) as scope:
            await stuck.execute({}, make_context())
        release.set()
        assert scope.cancelled_caught
        assert time.monotonic() - start < 2


@pytest.mark.anyio
async def test_exceptions_propagate_unchanged() -> None:
    with anyio.fail_after(5):
        failure = LookupError("no such row")

        @tool
        def fails() -> None:
            """Fail."""
            raise failure

        with pytest.raises(LookupError) as info:
            await fails.execute({}, make_context())
        assert info.value is failure


@pytest.mark.anyio
async def test_from_schema_handlers_sync_and_async() -> None:
    with anyio.fail_after(5):
        schema = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
        calls: list[tuple[dict[str, Any], str, int]] = []

        def sync_handler(arguments: dict[str, Any], context: ToolContext) -> dict[str, Any]:
            calls.append((arguments, context.call.id, threading.get_ident()))
            return {"echo": arguments["q"]}

        async def async_handler(arguments: dict[str, Any], context: ToolContext) -> str:
            await context.report("working")
            return str(arguments["q"]).upper()

        sync_tool = Tool.from_schema("lookup", "Look up.", schema, sync_handler, timeout=3)
        assert sync_tool.timeout == 3
        assert sync_tool.definition.parameters == schema
        assert sync_tool.validate({}) == ("at '$': 'q' is a required property")
        result = await sync_tool.execute({"q": "x"}, make_context())
        assert result.text == '{"echo": "x"}'
        assert calls[0][:2] == ({"q": "x"}, "call_1")
        assert calls[0][2] != threading.get_ident()

        reports: list[str] = []
        async_tool = Tool.from_schema("up", "Upper.", schema, async_handler)
        assert (await async_tool.execute({"q": "x"}, make_context(reports))).text == "X"
        assert reports == ["working"]


# --------------------------------------------------------------------------- return values


@attrs.define
class Report:
    total: int
    color: Color


IMAGE = ImageContent("aGVsbG8=", "image/png")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("value", "content"),
    [
        ("plain text", (TextContent("plain text"),)),
        ("", (TextContent(""),)),
        (None, ()),
        (TextContent("t"), (TextContent("t"),)),
        (IMAGE, (IMAGE,)),
        ([TextContent("a"), IMAGE], (TextContent("a"), IMAGE)),
        ((IMAGE,), (IMAGE,)),
        ({"b": 1, "a": [1.5, None, True]}, (TextContent('{"a": [1.5, null, true], "b": 1}'),)),
        (Report(3, Color.BLUE), (TextContent('{"color": "blue", "total": 3}'),)),
        ([Report(1, Color.RED)], (TextContent('[{"color": "red", "total": 1}]'),)),
        (Color.RED, (TextContent('"red"'),)),
        (Row("k", 0.5), (TextContent('{"key": "k", "value": 0.5}'),)),
        (Secretive(2), (TextContent('{"hidden": "h", "size": 2}'),)),
        (42, (TextContent("42"),)),
        (False, (TextContent("false"),)),
        ([], (TextContent("[]"),)),
        ((1, "é"), (TextContent('[1, "é"]'),)),
    ],
    ids=repr,
)
async def test_return_value_normalisation(value: Any, content: tuple[Any, ...]) -> None:
    with anyio.fail_after(5):

        async def give() -> Any:
            return value

        result = await Tool.from_function(give).execute({}, make_context())
        assert result == ToolResult(content)
        assert not result.is_error
        assert not result.terminate


@pytest.mark.anyio
async def test_tool_result_passes_through() -> None:
    with anyio.fail_after(5):
        given_result = ToolResult("bye", terminate=True)

        @tool
        def finish() -> ToolResult:
            """End the run."""
            return given_result

        assert await finish.execute({}, make_context()) is given_result


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("value", "message"),
    [
        (object(), "returned object"),
        ({1, 2}, "returned set"),
        ({"a": {1: "x"}}, "int key"),
        ([1, float("nan")], r"nan"),
        ({"a": b"raw"}, r"bytes at '\$\.a'"),
        ([TextContent("a"), 1], "mixing content blocks"),
    ],
    ids=repr,
)
async def test_unserialisable_return_values(value: Any, message: str) -> None:
    with anyio.fail_after(5):

        async def bad_output() -> Any:
            return value

        with pytest.raises(ToolOutputError, match=message) as info:
            await Tool.from_function(bad_output).execute({}, make_context())
        assert "'bad_output'" in str(info.value)
        assert isinstance(info.value, AgentkitError)


def test_tool_result_content_converter() -> None:
    assert ToolResult("x").content == (TextContent("x"),)
    assert ToolResult(IMAGE).content == (IMAGE,)
    assert ToolResult([TextContent("a"), TextContent("b")]).text == "ab"
    with pytest.raises(ToolOutputError, match=r"content\[1\]"):
        ToolResult([TextContent("a"), "b"])  # type: ignore[list-item]


# --------------------------------------------------------------------------- methods


class Base:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    @tool
    def greet(self, who: str) -> str:
        """Say hello.

        Args:
            who: Who to greet.
        """
        return f"{self.prefix} {who}"

    @tool(sequential=True)
    async def shout(self, text: str) -> str:
        """Shout."""
        return f"{self.prefix} {text.upper()}"

    @staticmethod
    @tool
    def version() -> str:
        """The version."""
        return "1"

    def helper(self) -> str:
        return "not a tool"


class Child(Base):
    @tool
    def greet(self, who: str, times: int = 1) -> str:
        """Say hello several times."""
        return " ".join([f"{self.prefix} {who}"] * times)

    @tool
    def extra(self) -> str:
        """Extra."""
        return "extra"

    shout = None  # type: ignore[assignment]


def test_method_tool_schema_has_no_self() -> None:
    assert Base.greet.definition.parameters["properties"] == {
        "who": {"type": "string", "description": "Who to greet."}
    }
    assert Base.greet.definition.parameters["required"] == ["who"]


def test_method_tool_binds_and_stays_callable() -> None:
    obj = Base("hi")
    bound = obj.greet
    assert isinstance(bound, Tool)
    assert bound.name == "greet"
    assert bound("bob") == "hi bob"
    assert Base.greet(obj, "ann") == "hi ann"
    assert bound.definition is Base.greet.definition
    with pytest.raises(ToolDefinitionError, match="not an unbound method"):
        bound.bind(obj)


def test_plain_tool_is_callable() -> None:
    def add(a: int, b: int) -> int:
        """Add."""
        return a + b

    assert tool(add)(2, 3) == 5


@pytest.mark.anyio
async def test_method_tools_execute() -> None:
    with anyio.fail_after(5):
        obj = Base("hey")
        assert (await obj.greet.execute({"who": "x"}, make_context())).text == "hey x"
        assert (await obj.shout.execute({"text": "y"}, make_context())).text == "hey Y"
        with pytest.raises(ToolDefinitionError, match="is a method"):
            await Base.greet.execute({"who": "x"}, make_context())


@pytest.mark.anyio
async def test_collect_tools_with_inheritance() -> None:
    with anyio.fail_after(5):
        base_tools = collect_tools(Base("b"))
        assert [t.name for t in base_tools] == ["greet", "shout", "version"]
        assert [t.sequential for t in base_tools] == [False, True, False]

        child = Child("c")
        tools = collect_tools(child)
        # The override keeps its place; a non-tool override removes the tool.
        assert [t.name for t in tools] == ["greet", "version", "extra"]
        greet = tools[0]
        assert "times" in greet.definition.parameters["properties"]
        result = await greet.execute({"who": "z", "times": 2}, make_context())
        assert result.text == "c z c z"
        assert (await tools[1].execute({}, make_context())).text == "1"
        assert [t.name for t in collect_tools(object())] == []


def test_collect_tools_rejects_duplicate_names() -> None:
    class Dup:
        @tool(name="same")
        def one(self) -> None:
            """One."""

        @tool(name="same")
        def two(self) -> None:
            """Two."""

    with pytest.raises(ToolDefinitionError, match="more than one tool named same"):
        collect_tools(Dup())


# --------------------------------------------------------------------------- properties

_SCALARS: list[tuple[Any, st.SearchStrategy[Any]]] = [
    (str, st.text(max_size=8)),
    (int, st.integers()),
    (float, st.floats(allow_nan=False, allow_infinity=False)),
    (bool, st.booleans()),
    (Color, st.sampled_from(Color)),
    (Level, st.sampled_from(Level)),
    (Literal["a", "b", 3], st.sampled_from(["a", "b", 3])),
    (Any, st.integers() | st.text(max_size=4) | st.none()),
    (
        Point,
        st.builds(
            Point,
            x=st.floats(allow_nan=False, allow_infinity=False),
            color=st.sampled_from(Color),
            tags=st.lists(st.text(max_size=3), max_size=2),
        ),
    ),
    (
        Options,
        st.fixed_dictionaries(
            {"depth": st.integers()},
            optional={"label": st.text(max_size=3), "color": st.sampled_from(Color)},
        ),
    ),
]

# Subscripted at run time with generated types, which mypy cannot check.
_LIST: Any = list
_TUPLE: Any = tuple
_DICT: Any = dict

_TypeAndValues = tuple[Any, st.SearchStrategy[Any]]


def _extend(children: st.SearchStrategy[_TypeAndValues]) -> st.SearchStrategy[_TypeAndValues]:
    return st.one_of(
        children.map(lambda c: (_LIST[c[0]], st.lists(c[1], max_size=3))),
        children.map(lambda c: (_TUPLE[c[0], ...], st.lists(c[1], max_size=3).map(tuple))),
        children.map(
            lambda c: (_DICT[str, c[0]], st.dictionaries(st.text(max_size=3), c[1], max_size=3))
        ),
        children.map(lambda c: (c[0] | None, st.none() | c[1])),
    )


_TYPES = st.recursive(st.sampled_from(_SCALARS), _extend, max_leaves=3)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_generated_values_validate_and_round_trip(data: st.DataObject) -> None:
    annotation, values = data.draw(_TYPES)
    value = data.draw(values)

    def fn(x):  # type: ignore[no-untyped-def]
        return x

    fn.__annotations__ = {"x": annotation}
    t = Tool.from_function(fn)
    Draft202012Validator.check_schema(t.definition.parameters)
    arguments = {"x": json.loads(json.dumps(to_jsonable(value)))}
    assert t.validate(arguments) is None
    converted = t.convert(arguments)["x"]
    assert converted == value
    assert type(converted) is type(value)
    # The JSON form is stable: converting back gives the same arguments.
    assert to_jsonable(converted) == arguments["x"]


@settings(max_examples=40, deadline=None)
@given(
    st.one_of(st.text(max_size=3), st.floats(allow_nan=False), st.none(), st.lists(st.booleans()))
)
def test_validation_rejects_wrong_json_types(bad: Any) -> None:
    t = tool(_shape_tool)
    message = t.validate({"shape": {"name": "s", "points": []}, "count": bad})
    if isinstance(bad, float) and bad.is_integer():
        assert message is None  # JSON schema counts 3.0 as an integer; convert() makes it 3
        assert type(t.convert({"count": bad})["count"]) is int
    else:
        assert message is not None
        assert "at '$.count'" in message


def test_convert_uses_attrs_aliases() -> None:
    def fn(s: Secretive) -> None:
        """Take one."""

    t = tool(fn)
    assert t.validate({"s": {"size": 4}}) is None
    assert t.convert({"s": {"size": 4}}) == {"s": Secretive(4)}

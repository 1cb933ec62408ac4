"""Tool parameter and return types beyond plain JSON (issue 14, item 2), and the
type layer structured output shares: dataclasses, pydantic models, dates, UUIDs,
paths, decimals, NewType and aliases, unions of object types."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import json
import logging
import re
import socket
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any, Literal, NewType, TypedDict

import anyio
import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from agentkit import (
    AgentkitError,
    TextContent,
    Tool,
    ToolCall,
    ToolContext,
    ToolDefinitionError,
    ToolResult,
    tool,
)

# Private: the shared type layer has no public name (structured output builds on it).
from agentkit._schema import TypeValidationError, type_adapter

# --------------------------------------------------------------------------- fixtures

UserId = NewType("UserId", int)


class Priority(enum.Enum):
    LOW = "low"
    HIGH = "high"


@dataclasses.dataclass(frozen=True)
class Window:
    start: dt.datetime
    end: dt.datetime | None = None


@dataclasses.dataclass
class Meeting:
    """A meeting to book."""

    title: str
    window: Window
    attendees: list[UserId] = dataclasses.field(default_factory=list)
    priority: Priority = Priority.LOW
    room: uuid.UUID | None = None


@dataclasses.dataclass(frozen=True)
class Email:
    kind: Literal["email"]
    address: str


@dataclasses.dataclass(frozen=True)
class Phone:
    kind: Literal["phone"]
    number: str
    extension: int | None = None


class ByName(TypedDict):
    name: str


class ById(TypedDict):
    id: uuid.UUID


@dataclasses.dataclass(frozen=True)
class Named:
    name: str


@dataclasses.dataclass(frozen=True)
class Nicknamed:
    name: str
    nick: str = ""


@attrs.define(frozen=True)
class Positive:
    value: int = attrs.field(validator=attrs.validators.gt(0))


@dataclasses.dataclass(frozen=True)
class Everything:
    """One of each supported leaf type, for the round-trip property."""

    when: dt.datetime
    day: dt.date
    at: dt.time
    id: uuid.UUID
    where: PurePosixPath
    amount: decimal.Decimal
    user: UserId
    priority: Priority
    pair: tuple[int, str]
    by_day: dict[str, dt.date]
    contact: Email | Phone
    lookup: ByName | ById
    note: str | None = None


def make_context() -> ToolContext:
    async def reporter(progress: str) -> None:
        pass

    return ToolContext(ToolCall("call_1", "t", {}), reporter=reporter)


@pytest.fixture
def warnings_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.WARNING, logger="agentkit.tools"):
        yield caplog


def undocumented(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "tool.undocumented" in r.getMessage()]


# --------------------------------------------------------------------------- parameters


@pytest.mark.anyio
async def test_dataclass_parameters_are_described_validated_and_converted() -> None:
    with anyio.fail_after(5):
        got: list[Meeting] = []

        @tool
        def book(meeting: Meeting, on: dt.date, folder: Path) -> str:
            """Book a meeting."""
            got.append(meeting)
            assert isinstance(on, dt.date)
            assert isinstance(folder, Path)
            return f"{on.isoformat()} {folder.name}"

        props = book.definition.parameters["properties"]
        window = props["meeting"]["properties"]["window"]
        assert window["properties"]["start"] == {"type": "string", "format": "date-time"}
        assert props["meeting"]["required"] == ["title", "window"]
        assert props["meeting"]["properties"]["priority"]["default"] == "low"
        assert "default" not in props["meeting"]["properties"]["attendees"]  # a factory
        assert props["on"] == {"type": "string", "format": "date"}
        assert props["folder"] == {"type": "string"}
        room = str(uuid.UUID(int=7))
        arguments = {
            "meeting": {
                "title": "Plan",
                "window": {"start": "2026-01-02T09:30:00+01:00"},
                "attendees": [3, 4.0],
                "priority": "high",
                "room": room,
            },
            "on": "2026-01-02",
            "folder": "/tmp/notes",
        }
        assert book.validate(arguments) is None
        result = await book.execute(arguments, make_context())
        assert result.text == "2026-01-02 notes"
        (meeting,) = got
        tz = dt.timezone(dt.timedelta(hours=1))
        assert meeting == Meeting(
            "Plan",
            Window(dt.datetime(2026, 1, 2, 9, 30, tzinfo=tz)),
            [UserId(3), UserId(4)],
            Priority.HIGH,
            uuid.UUID(room),
        )
        assert type(meeting.attendees[1]) is int


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"when": "yesterday"}, r"at '\$\.when': 'yesterday' is not an ISO 8601 date-time"),
        ({"when": "2026-01-01T00:00:00", "id": "nope"}, r"at '\$\.id': 'nope' is not a UUID"),
        ({"when": 5}, r"at '\$\.when': 5 is not of type 'string'"),
        ({"when": "2026-01-01", "amount": "1,5"}, r"at '\$\.amount': '1,5' does not match"),
    ],
)
def test_malformed_values_are_named_with_their_path(arguments: Any, problem: str) -> None:
    @tool
    def plan(
        when: dt.datetime, id: uuid.UUID | None = None, amount: decimal.Decimal | None = None
    ) -> None:
        """Plan."""

    message = plan.validate(arguments)
    assert message is not None
    assert re.search(problem, message), message


def test_a_class_s_own_checks_are_validation_problems() -> None:
    @tool
    def take(item: Positive) -> None:
        """Take."""

    assert take.validate({"item": {"value": 1}}) is None
    message = take.validate({"item": {"value": 0}})
    assert message is not None
    assert message.startswith("at '$.item': Positive: ")
    assert "must be > 0" in message


def test_newtype_and_type_alias_parameters_unwrap() -> None:
    typing_extensions = pytest.importorskip("typing_extensions")
    Stamps = typing_extensions.TypeAliasType("Stamps", list[dt.date])

    def count(user, days):  # type: ignore[no-untyped-def]
        """Count."""
        return len(days)

    count.__annotations__ = {"user": UserId, "days": Stamps, "return": int}
    count = tool(count)
    props = count.definition.parameters["properties"]
    assert props["user"] == {"type": "integer"}
    assert props["days"] == {"type": "array", "items": {"type": "string", "format": "date"}}
    assert count.convert({"user": 2.0, "days": ["2026-03-04"]}) == {
        "user": 2,
        "days": [dt.date(2026, 3, 4)],
    }


# --------------------------------------------------------------------------- unions


def test_union_with_a_discriminator_picks_the_member_by_its_tag() -> None:
    adapter = type_adapter(Email | Phone, "contact")
    assert [m["properties"]["kind"] for m in adapter.schema["anyOf"]] == [
        {"type": "string", "enum": ["email"]},
        {"type": "string", "enum": ["phone"]},
    ]
    assert adapter.validate_json_value({"kind": "phone", "number": "1"}) == Phone("phone", "1")
    assert adapter.validate_json_value({"kind": "email", "address": "a@b"}) == Email("email", "a@b")
    with pytest.raises(TypeValidationError) as info:
        adapter.validate_json_value({"kind": "phone", "number": "1", "extension": "x"})
    # The tag says Phone: only Phone's problems are named, with their own path.
    assert info.value.problems == (("$.extension", "'x' is not of type 'integer', 'null'"),)


def test_union_without_a_tag_takes_the_one_member_that_fits() -> None:
    adapter = type_adapter(ByName | ById | None, "lookup")
    ident = uuid.UUID(int=1)
    assert adapter.validate_json_value({"id": str(ident)}) == {"id": ident}
    assert adapter.validate_json_value({"name": "x"}) == {"name": "x"}
    assert adapter.validate_json_value(None) is None


def test_ambiguous_union_value_is_refused_naming_the_members() -> None:
    @tool
    def find(who: Named | Nicknamed) -> None:
        """Find."""

    message = find.validate({"who": {"name": "x"}})
    assert message is not None
    assert "at '$.who': ambiguous" in message
    assert "Named, Nicknamed" in message
    assert find.validate({"who": {"name": "x", "nick": "y"}}) is None  # only Nicknamed fits
    assert find.convert({"who": {"name": "x", "nick": "y"}}) == {"who": Nicknamed("x", "y")}
    with pytest.raises(TypeValidationError, match="ambiguous"):
        find.convert({"who": {"name": "x"}})


def test_int_or_float_in_an_object_union_follows_the_json_type() -> None:
    adapter = type_adapter(int | float | dt.date, "n")
    assert type(adapter.validate_json_value(3)) is int
    assert type(adapter.validate_json_value(3.0)) is float
    assert adapter.validate_json_value("2026-01-01") == dt.date(2026, 1, 1)


def test_member_conversion_failures_are_reported_when_no_member_fits() -> None:
    adapter = type_adapter(dt.date | uuid.UUID, "d")
    with pytest.raises(TypeValidationError) as info:
        adapter.validate_json_value("soon")
    ((path, reason),) = info.value.problems
    assert path == "$"
    assert reason.startswith("the value fits none of date | UUID")
    assert "'soon' is not a date" in reason
    assert "'soon' is not a UUID" in reason


@pytest.mark.parametrize(
    ("annotation", "text"),
    [
        (Path | str, "Path and str have the same JSON schema"),
        (Email | Any, "Any in a union"),
        (Window | socket.socket, "socket"),
    ],
    ids=repr,
)
def test_unions_that_cannot_be_told_apart_are_refused(annotation: Any, text: str) -> None:
    with pytest.raises(ToolDefinitionError, match=text) as info:
        type_adapter(annotation, "function 'f', parameter 'x'")
    assert "function 'f', parameter 'x'" in str(info.value)


# --------------------------------------------------------------------------- returns


@pytest.mark.anyio
async def test_typed_return_values_are_sent_as_json() -> None:
    with anyio.fail_after(5):
        when = dt.datetime(2026, 5, 6, 7, 8, 9, tzinfo=dt.UTC)

        @tool
        async def now() -> dt.datetime:
            """The time."""
            return when

        @tool
        def window() -> Window:
            """A window."""
            return Window(when)

        @tool
        def anything() -> dict[str, object]:
            """Anything JSON."""
            return {"path": Path("/a"), "n": decimal.Decimal("1.50")}

        context = make_context()
        assert (await now.execute({}, context)).text == '"2026-05-06T07:08:09+00:00"'
        assert json.loads((await window.execute({}, context)).text) == {
            "start": "2026-05-06T07:08:09+00:00",
            "end": None,
        }
        assert json.loads((await anything.execute({}, context)).text) == {
            "path": "/a",
            "n": "1.50",
        }


@dataclasses.dataclass
class HoldsSocket:
    name: str
    conn: socket.socket


@pytest.mark.parametrize(
    ("annotation", "shown"),
    [
        (socket.socket, "a socket cannot"),
        (list[socket.socket], "holds a socket"),
        (HoldsSocket | None, "holds a socket"),
        (dict[int, str], "keys are strings"),
        (set[int], "sets"),
        (bytes, "bytes"),
    ],
    ids=repr,
)
def test_unserialisable_return_types_are_refused_at_definition(annotation: Any, shown: str) -> None:
    def opener() -> None:
        """Open."""

    opener.__annotations__ = {"return": annotation}
    with pytest.raises(ToolDefinitionError, match=shown) as info:
        tool(opener)
    assert "opener" in str(info.value)
    assert "return type" in str(info.value)
    assert isinstance(info.value, AgentkitError)


@pytest.mark.parametrize(
    "annotation",
    [
        Any,
        object,
        None,
        str | None,
        ToolResult,
        list[TextContent],
        str | ToolResult,
        dict[str, Any],
        dict[str, object],
        Window | None,
    ],
    ids=repr,
)
def test_returnable_types_are_accepted(annotation: Any) -> None:
    def fine() -> None:
        """Fine."""

    fine.__annotations__ = {"return": annotation}
    assert tool(fine).name == "fine"


# --------------------------------------------------------------------------- descriptions


def test_a_tool_without_a_description_is_logged(warnings_log: pytest.LogCaptureFixture) -> None:
    def bare(x: int) -> int:
        return x

    tool(bare)
    (record,) = undocumented(warnings_log)
    assert record.levelno == logging.WARNING
    assert "bare" in record.getMessage()
    Tool.from_schema("raw", "  ", {"type": "object"}, lambda a, c: None)
    assert len(undocumented(warnings_log)) == 2


def test_a_described_tool_is_not_logged(warnings_log: pytest.LogCaptureFixture) -> None:
    def documented(x: int) -> int:
        """Echo."""
        return x

    def bare(x: int) -> int:
        return x

    tool(documented)
    tool(description="Echo.")(bare)
    Tool.from_schema("raw", "Raw.", {"type": "object"}, lambda a, c: None)
    assert undocumented(warnings_log) == []


# --------------------------------------------------------------------------- the adapter


def test_type_adapter_interface() -> None:
    adapter = type_adapter(Window, "output_type of Planner")
    assert adapter.annotation is Window
    assert adapter.schema == {
        "type": "object",
        "properties": {
            "start": {"type": "string", "format": "date-time"},
            "end": {
                "anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}],
                "default": None,
            },
        },
        "required": ["start"],
        "additionalProperties": False,
    }
    value = adapter.validate_json_value({"start": "2026-01-01T00:00:00Z"})
    assert value == Window(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert adapter.dump(value) == {"start": "2026-01-01T00:00:00+00:00", "end": None}
    with pytest.raises(TypeValidationError) as info:
        adapter.validate_json_value({"end": 3, "extra": True})
    assert isinstance(info.value, AgentkitError)
    assert isinstance(info.value, ValueError)
    assert [p for p, _ in info.value.problems] == ["$", "$", "$.end"]
    text = str(info.value)
    assert "'start' is a required property" in text
    assert "'extra' was unexpected" in text
    with pytest.raises(TypeValidationError, match=r"builtin_function_or_method at '\$\.f'"):
        type_adapter(Any, "x").dump({"f": len})
    with pytest.raises(ToolDefinitionError, match="output_type of Planner"):
        type_adapter(socket.socket, "output_type of Planner")


def test_datetime_offsets_are_kept_and_naive_stays_naive() -> None:
    adapter = type_adapter(dt.datetime, "when")
    naive = adapter.validate_json_value("2026-01-01T10:00:00")
    assert naive.tzinfo is None
    aware = adapter.validate_json_value("2026-01-01T10:00:00-05:00")
    assert aware.utcoffset() == dt.timedelta(hours=-5)
    assert adapter.dump(aware) == "2026-01-01T10:00:00-05:00"
    assert adapter.dump(naive) == "2026-01-01T10:00:00"


# --------------------------------------------------------------------------- properties

_OFFSETS = st.builds(
    dt.timezone, st.integers(-23 * 60 + 1, 23 * 60 - 1).map(lambda m: dt.timedelta(minutes=m))
)
_DATETIMES = st.datetimes(timezones=st.none() | _OFFSETS)
_TEXT = st.text(max_size=8)
_DECIMALS = st.decimals(allow_nan=False, allow_infinity=False)
_EMAILS = st.builds(Email, st.just("email"), _TEXT)
_PHONES = st.builds(Phone, st.just("phone"), _TEXT, st.none() | st.integers())
_LOOKUPS = st.fixed_dictionaries({"name": _TEXT}) | st.fixed_dictionaries({"id": st.uuids()})
_EVERYTHING = st.builds(
    Everything,
    when=_DATETIMES,
    day=st.dates(),
    at=st.times(timezones=st.none() | _OFFSETS),
    id=st.uuids(),
    where=_TEXT.map(PurePosixPath),
    amount=_DECIMALS,
    user=st.integers().map(UserId),
    priority=st.sampled_from(Priority),
    pair=st.tuples(st.integers(), _TEXT),
    by_day=st.dictionaries(_TEXT, st.dates(), max_size=3),
    contact=_EMAILS | _PHONES,
    lookup=_LOOKUPS,
    note=st.none() | _TEXT,
)
_CASES: list[tuple[Any, st.SearchStrategy[Any]]] = [
    (Everything, _EVERYTHING),
    (list[Everything], st.lists(_EVERYTHING, max_size=2)),
    (Email | Phone | None, st.none() | _EMAILS | _PHONES),
    (dt.datetime, _DATETIMES),
    (decimal.Decimal, _DECIMALS),
    (int | float | dt.date, st.integers() | st.floats(allow_nan=False, allow_infinity=False)),
]


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_dump_then_validate_round_trips(data: st.DataObject) -> None:
    tp, values = data.draw(st.sampled_from(_CASES))
    value = data.draw(values)
    adapter = type_adapter(tp, "round trip")
    dumped = json.loads(json.dumps(adapter.dump(value), allow_nan=False))
    assert list(Draft202012Validator(adapter.schema).iter_errors(dumped)) == []
    back = adapter.validate_json_value(dumped)
    assert back == value
    assert type(back) is type(value)
    assert adapter.dump(back) == dumped

    def echo(x):  # type: ignore[no-untyped-def]
        """Echo."""
        return x

    echo.__annotations__ = {"x": tp, "return": tp}
    as_tool = tool(echo)
    assert as_tool.validate({"x": dumped}) is None
    assert as_tool.convert({"x": dumped}) == {"x": value}


# --------------------------------------------------------------------------- pydantic


def test_pydantic_models_are_inlined_validated_and_dumped() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Item(pydantic.BaseModel):  # type: ignore[name-defined,misc]
        sku: str
        due: dt.date

    class Order(pydantic.BaseModel):  # type: ignore[name-defined,misc]
        kind: Literal["order"] = "order"
        items: list[Item]
        note: str | None = None

    adapter = type_adapter(Order, "output_type")
    assert "$ref" not in json.dumps(adapter.schema)
    assert "$defs" not in adapter.schema
    assert adapter.schema["properties"]["items"]["items"]["properties"]["due"]["format"] == "date"
    value = adapter.validate_json_value({"items": [{"sku": "a", "due": "2026-02-03"}]})
    assert value == Order(items=[Item(sku="a", due=dt.date(2026, 2, 3))])
    assert adapter.dump(value) == {
        "kind": "order",
        "items": [{"sku": "a", "due": "2026-02-03"}],
        "note": None,
    }
    with pytest.raises(TypeValidationError) as info:
        adapter.validate_json_value({"items": [{"sku": "a", "due": "2026-02-30"}]})
    ((path, _),) = info.value.problems
    assert path == "$.items[0].due"

    def place(order):  # type: ignore[no-untyped-def]
        """Place an order."""
        return order

    place.__annotations__ = {"order": Order, "return": Order}
    place = tool(place)

    assert place.validate({"order": {"items": [{"sku": 1, "due": "2026-02-03"}]}}) is not None
    assert place.convert({"order": {"items": []}}) == {"order": Order(items=[])}


def test_pydantic_unions_use_const_discriminators() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Cat(pydantic.BaseModel):  # type: ignore[name-defined,misc]
        kind: Literal["cat"]
        lives: int = 9

    class Dog(pydantic.BaseModel):  # type: ignore[name-defined,misc]
        kind: Literal["dog"]
        lives: int = 1

    adapter = type_adapter(Cat | Dog, "pet")
    assert adapter.validate_json_value({"kind": "dog"}) == Dog(kind="dog")
    with pytest.raises(
        TypeValidationError, match=r"at .\$\.kind.: .cow. is not one of .cat., .dog."
    ):
        adapter.validate_json_value({"kind": "cow"})


def test_recursive_pydantic_models_are_refused() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Node(pydantic.BaseModel):  # type: ignore[name-defined,misc]
        children: list[Node] = pydantic.Field(default_factory=list)

    with pytest.raises(ToolDefinitionError, match="recursive"):
        type_adapter(Node, "tree")


def test_works_without_pydantic() -> None:
    # pydantic blocked: importing it raises, so any import of it in agentkit would fail here.
    program = textwrap.dedent(
        """
        import sys
        sys.modules["pydantic"] = None
        import dataclasses, datetime
        import agentkit
        from agentkit import tool
        from agentkit._schema import type_adapter, to_jsonable

        @dataclasses.dataclass
        class Slot:
            at: datetime.datetime

        @tool
        def book(slot: Slot) -> Slot:
            "Book a slot."
            return slot

        print(book.convert({"slot": {"at": "2026-01-01T00:00:00"}})["slot"])
        print(to_jsonable(Slot(datetime.datetime(2026, 1, 1))))
        print(type_adapter(Slot | None, "x").validate_json_value(None))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "Slot(at=datetime.datetime(2026, 1, 1, 0, 0))",
        "{'at': '2026-01-01T00:00:00'}",
        "None",
    ]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_pydantic_dump_then_validate_round_trips(data: st.DataObject) -> None:
    pydantic = pytest.importorskip("pydantic")

    class Booking(pydantic.BaseModel):  # type: ignore[name-defined,misc]
        when: dt.datetime
        id: uuid.UUID
        amount: decimal.Decimal
        contact: Email | Phone
        tags: tuple[str, ...] = ()

    value = Booking(
        when=data.draw(_DATETIMES),
        id=data.draw(st.uuids()),
        amount=data.draw(_DECIMALS),
        contact=data.draw(_EMAILS | _PHONES),
        tags=data.draw(st.tuples(_TEXT)),
    )
    adapter = type_adapter(Booking, "round trip")
    dumped = json.loads(json.dumps(adapter.dump(value)))
    assert list(Draft202012Validator(adapter.schema).iter_errors(dumped)) == []
    assert adapter.validate_json_value(dumped) == value

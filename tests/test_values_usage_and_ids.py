"""Costs are finite numbers, so usage is strict JSON; tool-call ids are non-empty and distinct."""

from __future__ import annotations

import json
import math

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentkit._errors import AgentkitError, SerializationError
from agentkit._messages import (
    AssistantMessage,
    InvalidValueError,
    StopReason,
    TextContent,
    ToolCall,
    Usage,
    message_from_dict,
)


@pytest.mark.parametrize("cost", [math.nan, math.inf, -math.inf])
def test_a_non_finite_cost_is_a_typed_error_naming_the_field(cost: float) -> None:
    with pytest.raises(InvalidValueError, match=r"Usage\.cost must be a finite number") as raised:
        Usage(input=1, cost=cost)
    assert isinstance(raised.value, AgentkitError)
    assert isinstance(raised.value, ValueError)
    with pytest.raises(InvalidValueError, match=r"Usage\.cost"):
        attrs.evolve(Usage(), cost=cost)


@pytest.mark.parametrize("cost", ["0.1", True, [1.0]])
def test_a_cost_that_is_not_a_number_is_a_typed_error(cost: object) -> None:
    with pytest.raises(InvalidValueError, match=r"Usage\.cost must be a number of dollars"):
        Usage(cost=cost)  # type: ignore[arg-type]


def test_an_integer_cost_is_a_float_and_a_sum_that_overflows_is_an_error() -> None:
    assert Usage(cost=2).cost == 2.0
    assert type(Usage(cost=2).cost) is float
    huge = Usage(cost=1e308)
    assert json.loads(json.dumps(huge.to_dict(), allow_nan=False))["cost"] == 1e308
    with pytest.raises(InvalidValueError, match=r"Usage\.cost: 1e\+308 \+ 1e\+308 overflows"):
        huge + huge


@given(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(0, 10**12),
    st.integers(0, 10**12),
)
def test_any_constructed_usage_is_strict_json_and_loads_back(cost: float, a: int, b: int) -> None:
    try:
        usage = Usage(input=a, output=b, cost=cost)
    except InvalidValueError:
        assert not math.isfinite(cost)
        return
    text = json.dumps(usage.to_dict(), allow_nan=False)
    assert Usage.from_dict(json.loads(text)) == usage


@given(st.lists(st.floats(-1e6, 1e6), max_size=20))
def test_sums_of_usage_stay_finite_and_add_up(costs: list[float]) -> None:
    total = sum((Usage(input=1, cost=c) for c in costs), start=Usage())
    assert total.input == len(costs)
    assert math.isclose(total.cost, math.fsum(costs), abs_tol=1e-6)
    json.dumps(total.to_dict(), allow_nan=False)


def test_a_saved_non_finite_cost_is_refused_on_load_with_the_field_named() -> None:
    for raw in ('{"cost": NaN}', '{"cost": Infinity}'):
        with pytest.raises(SerializationError, match=r"usage\.cost: expected a finite number"):
            Usage.from_dict(json.loads(raw))


# --------------------------------------------------------------------------- tool-call ids


def test_a_repeated_tool_call_id_is_a_typed_error_naming_the_id() -> None:
    calls = (ToolCall("call_1", "ls"), TextContent("and"), ToolCall("call_1", "cat"))
    with pytest.raises(InvalidValueError, match=r"tool-call id 'call_1' is used more than once"):
        AssistantMessage(calls, StopReason.TOOL_USE)


def test_an_empty_tool_call_id_is_a_typed_error_naming_the_tool() -> None:
    with pytest.raises(InvalidValueError, match=r"tool call 'ls' has an empty id") as raised:
        AssistantMessage((ToolCall("", "ls"),), StopReason.TOOL_USE)
    assert isinstance(raised.value, AgentkitError)


def test_evolve_cannot_introduce_a_duplicate_either() -> None:
    message = AssistantMessage((ToolCall("a", "ls"), ToolCall("b", "ls")), StopReason.TOOL_USE)
    assert [c.id for c in message.tool_calls] == ["a", "b"]
    with pytest.raises(InvalidValueError, match="'a'"):
        attrs.evolve(message, content=(*message.content, ToolCall("a", "cat")))


def test_a_saved_message_with_duplicate_ids_fails_to_load_as_a_serialization_error() -> None:
    good = AssistantMessage((ToolCall("a", "ls"), ToolCall("b", "ls")), StopReason.TOOL_USE)
    data = good.to_dict()
    data["content"][1]["id"] = "a"
    with pytest.raises(SerializationError, match=r"assistant\.content: tool-call id 'a'"):
        message_from_dict(data)
    data["content"][1]["id"] = ""
    with pytest.raises(
        SerializationError, match=r"assistant\.content: tool call 'ls' has an empty"
    ):
        message_from_dict(data)

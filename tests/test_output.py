"""The output spec: types to schemas, wrapping, parsing, and the judge's retry bookkeeping."""

from __future__ import annotations

import enum
import json
from typing import Any, Literal, NotRequired, TypedDict

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentkit import (
    AssistantMessage,
    OutputValidationError,
    StopReason,
    TextContent,
    ToolCall,
    UnsupportedOutputError,
)
from agentkit._output import (
    OUTPUT_TOOL_NAME,
    OutputJudge,
    OutputSpec,
    build_output_spec,
    parse_json_text,
)
from agentkit.providers._openai_format import response_format, strict_schema


class Person(TypedDict):
    name: str
    age: int


class Draft(TypedDict):
    title: str
    note: NotRequired[str]


@attrs.define(frozen=True)
class Point:
    x: int
    y: int = attrs.field(validator=attrs.validators.ge(0))


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


def spec(tp: Any, mode: str = "tool", retries: int = 2) -> OutputSpec:
    built = build_output_spec(tp, mode, retries, native_supported=lambda: True)
    assert built is not None
    return built


def answer(*calls: ToolCall, text: str = "", stop: StopReason | None = None) -> AssistantMessage:
    content: list[Any] = [TextContent(text)] if text else []
    content.extend(calls)
    reason = stop or (StopReason.TOOL_USE if calls else StopReason.STOP)
    return AssistantMessage(tuple(content), reason)


# --------------------------------------------------------------------------- the spec


def test_text_types_need_no_spec() -> None:
    assert build_output_spec(None) is None
    assert build_output_spec(str) is None


def test_an_object_type_is_its_own_schema() -> None:
    built = spec(Person)
    assert not built.wrapped
    assert built.schema["type"] == "object"
    assert built.schema["required"] == ["name", "age"]
    assert built.schema["title"] == "Person"
    assert built.definition.name == OUTPUT_TOOL_NAME == "final_result"
    assert built.parse_data({"name": "Ann", "age": 3}) == {"name": "Ann", "age": 3}


def test_a_non_object_type_is_wrapped_in_result() -> None:
    built = spec(Literal["yes", "no"])
    assert built.wrapped
    assert built.schema["properties"]["result"] == {"type": "string", "enum": ["yes", "no"]}
    assert built.schema["required"] == ["result"]
    assert built.parse_data({"result": "no"}) == "no"
    assert spec(Color).parse_data({"result": "blue"}) is Color.BLUE
    assert spec(int).parse_data({"result": 3.0}) == 3


def test_attrs_values_are_built_and_their_validators_count() -> None:
    built = spec(Point)
    assert built.parse_data({"x": 1, "y": 2}) == Point(1, 2)
    with pytest.raises(Exception, match="Point") as caught:
        built.parse_data({"x": 1, "y": -1})  # the attrs validator refuses it
    assert "must be >= 0" in str(caught.value)


def test_every_schema_problem_is_named() -> None:
    with pytest.raises(Exception, match=r"at '\$': 'age' is a required property") as caught:
        spec(Person).parse_data({"name": 3})
    assert "at '$.name': 3 is not of type 'string'" in str(caught.value)


def test_a_union_of_object_types_converts_by_the_first_member_that_fits() -> None:
    built = spec(Person | Point)
    assert built.wrapped and "anyOf" in built.schema["properties"]["result"]
    assert built.parse_data({"result": {"x": 1, "y": 0}}) == Point(1, 0)
    assert built.parse_data({"result": {"name": "A", "age": 1}}) == {"name": "A", "age": 1}
    with pytest.raises(Exception, match="is not valid under any of the given schemas"):
        built.parse_data({"result": {"z": 1}})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"output_type": set[int]}, "JSON has no sets"),
        ({"output_type": Person, "mode": "json"}, "output_mode must be one of"),
        ({"output_type": Person, "mode": "native"}, "no native structured output"),
        (
            {"output_type": Person, "tool_names": frozenset({"final_result"})},
            "a tool is named 'final_result'",
        ),
    ],
)
def test_what_cannot_work_is_refused_before_any_request(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(UnsupportedOutputError, match=message):
        build_output_spec(**kwargs)


@pytest.mark.parametrize("retries", [-1, True, 1.5, "2"])
def test_output_retries_must_be_a_count(retries: Any) -> None:
    with pytest.raises(TypeError, match="output_retries"):
        build_output_spec(Person, "tool", retries)


# --------------------------------------------------------------------------- text


def test_prompted_text_is_found_in_a_fence_or_among_prose() -> None:
    built = spec(Person, "prompted")
    value = {"name": "Ann", "age": 3}
    for text in (
        json.dumps(value),
        f"```json\n{json.dumps(value)}\n```",
        f"Here it is: {json.dumps(value)} - done.",
    ):
        assert built.parse_text(text) == value


def test_native_text_must_be_the_json_itself() -> None:
    built = spec(Person, "native")
    with pytest.raises(Exception, match="not JSON"):
        built.parse_text('Here it is: {"name": "Ann", "age": 3}')
    with pytest.raises(Exception, match="empty"):
        built.parse_text("  ")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


@given(json_values, st.sampled_from(["{}", "```json\n{}\n```", "```\n{}\n```", "  {}  "]))
def test_any_json_value_comes_back_from_its_text(value: Any, frame: str) -> None:
    text = frame.replace("{}", json.dumps(value))
    assert parse_json_text(text, lenient=True) == value
    assert parse_json_text(text, lenient=False) == value


# --------------------------------------------------------------------------- the judge


def test_a_valid_call_is_accepted_and_answered() -> None:
    judge = OutputJudge(spec(Person))
    verdict = judge.judge(
        answer(ToolCall("c1", "final_result", {"name": "A", "age": 1})), aborted=False
    )
    assert verdict.accepted and verdict.value == {"name": "A", "age": 1}
    ((call, result),) = verdict.answered
    assert call.id == result.tool_call_id == "c1" and not result.is_error


def test_invalid_output_is_answered_with_the_problem_until_the_retries_are_used() -> None:
    judge = OutputJudge(spec(Person, retries=1))
    bad = answer(ToolCall("c1", "final_result", {"name": "A"}))
    first = judge.judge(bad, aborted=False)
    assert not first.accepted and first.error is None
    ((_, result),) = first.answered
    assert result.is_error and "'age' is a required property" in result.text
    second = judge.judge(bad, aborted=False)
    assert isinstance(second.error, OutputValidationError)
    assert second.error.attempts == 2 and "'age'" in second.error.problem
    assert len(second.answered) == 1  # the call still gets its result


def test_text_in_tool_mode_is_a_failed_attempt_with_feedback() -> None:
    judge = OutputJudge(spec(Person))
    verdict = judge.judge(answer(text="Ann, 3"), aborted=False)
    assert not verdict.accepted and judge.failures == 1
    (feedback,) = verdict.retry
    assert "final_result" in feedback.text


def test_only_the_first_valid_call_counts() -> None:
    judge = OutputJudge(spec(Person))
    first = ToolCall("c1", "final_result", {"name": "A", "age": 1})
    second = ToolCall("c2", "final_result", {"name": "B", "age": 2})
    verdict = judge.judge(answer(first, second), aborted=False)
    assert verdict.value == {"name": "A", "age": 1}
    assert [r.tool_call_id for _, r in verdict.answered] == ["c1", "c2"]
    assert "Ignored" in verdict.answered[1][1].text


@pytest.mark.parametrize("stop", [StopReason.LENGTH, StopReason.REFUSAL])
def test_a_truncated_or_refused_text_answer_is_not_an_attempt(stop: StopReason) -> None:
    judge = OutputJudge(spec(Person, "native"))
    verdict = judge.judge(answer(text='{"name": "A', stop=stop), aborted=False)
    assert verdict == type(verdict)() and judge.failures == 0


def test_other_tool_calls_come_first() -> None:
    judge = OutputJudge(spec(Person, "prompted"))
    verdict = judge.judge(answer(ToolCall("c1", "search", {})), aborted=False)
    assert not verdict.accepted and not verdict.retry and judge.failures == 0


def test_an_aborted_answer_still_answers_its_output_calls() -> None:
    judge = OutputJudge(spec(Person))
    call = ToolCall("c1", "final_result", {"name": "A", "age": 1})
    verdict = judge.judge(answer(call), aborted=True)
    assert not verdict.accepted and judge.failures == 0
    assert [r.is_error for _, r in verdict.answered] == [True]


# --------------------------------------------------------------------------- strict mode


def test_closed_all_required_schemas_are_strict() -> None:
    assert strict_schema(spec(Person).schema)
    assert strict_schema(spec(Literal["a", "b"]).schema)
    assert not strict_schema(spec(Draft).schema)  # an optional key
    assert not strict_schema(spec(dict[str, int]).schema)  # an open object
    wire = response_format(spec(Person).schema)
    assert wire["type"] == "json_schema"
    assert wire["json_schema"]["name"] == "Person" and wire["json_schema"]["strict"] is True
    assert response_format({"type": "object"})["json_schema"]["name"] == "output"

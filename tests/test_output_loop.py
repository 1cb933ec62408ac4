"""Typed output through the loop and the Agent, on a scripted provider (asyncio and trio)."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, Literal, TypedDict

import anyio
import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentkit import (
    Agent,
    AgentEvent,
    AssistantMessage,
    LoopConfig,
    ModelOptions,
    OutputError,
    OutputValidationError,
    StopReason,
    ToolCall,
    ToolExecutionEnd,
    ToolExecutionStart,
    ToolResultMessage,
    UnsupportedOutputError,
    UserMessage,
    agent_loop,
    tool,
)
from agentkit._output import build_output_spec
from agentkit.testing import Reply, ScriptedProvider, ScriptExhaustedError, call
from tests.protocol import check_protocol

pytestmark = pytest.mark.anyio


class Person(TypedDict):
    name: str
    age: int


@attrs.define(frozen=True)
class Verdict:
    ok: bool
    reason: str


class Mood(enum.Enum):
    GOOD = "good"
    BAD = "bad"


class Extractor(Agent[Person]):
    model = "scripted-model"
    system_prompt = "Extract the person."


def answered_everything(messages: tuple[Any, ...]) -> None:
    """Every tool call of the run has exactly one result: the history is valid."""
    calls = [c.id for m in messages if isinstance(m, AssistantMessage) for c in m.tool_calls]
    results = [m.tool_call_id for m in messages if isinstance(m, ToolResultMessage)]
    assert sorted(calls) == sorted(results)
    assert len(set(results)) == len(results)


async def test_the_class_type_parameter_sets_the_output_type() -> None:
    assert Extractor.output_type is Person
    provider = ScriptedProvider([Reply(tool_calls=[call("final_result", name="Ann", age=3)])])
    events: list[AgentEvent] = []
    agent = Extractor(provider=provider)
    agent.subscribe(events.append)
    with anyio.fail_after(5):
        result = await agent.run("Ann is 3.")
    assert result.output == {"name": "Ann", "age": 3}
    assert result.stop_reason is StopReason.STOP
    (definition,) = provider.requests[0].tools
    assert definition.name == "final_result"
    assert definition.parameters["required"] == ["name", "age"]
    check_protocol(events, complete=True)
    starts = [e for e in events if isinstance(e, ToolExecutionStart)]
    ends = [e for e in events if isinstance(e, ToolExecutionEnd)]
    assert [e.final_result for e in starts] == [True]
    assert [(e.final_result, e.result.is_error) for e in ends] == [(True, False)]
    answered_everything(result.messages)
    assert agent.messages[-1] == result.messages[-1]  # the conversation keeps the answer


async def test_invalid_output_goes_back_with_the_problem_then_succeeds() -> None:
    provider = ScriptedProvider(
        [
            Reply(tool_calls=[call("final_result", name="Ann")]),
            Reply(tool_calls=[call("final_result", name="Ann", age="three")]),
            Reply(tool_calls=[call("final_result", name="Ann", age=3)]),
        ]
    )
    with anyio.fail_after(5):
        result = await Extractor(provider=provider).run("Ann is 3.")
    assert result.output == {"name": "Ann", "age": 3}
    second, third = provider.requests[1], provider.requests[2]
    feedback = second.messages[-1]
    assert isinstance(feedback, ToolResultMessage) and feedback.is_error
    assert "'age' is a required property" in feedback.text
    assert "'three' is not of type 'integer'" in third.messages[-1].text
    answered_everything(result.messages)


async def test_past_the_retry_limit_the_run_fails_with_the_messages_so_far() -> None:
    bad = Reply(tool_calls=[call("final_result", name="Ann")])
    provider = ScriptedProvider([bad, bad])
    agent = Extractor(provider=provider, output_retries=1)
    with anyio.fail_after(5), pytest.raises(OutputValidationError) as caught:
        await agent.run("Ann is 3.")
    error = caught.value
    assert error.attempts == 2 and "'age' is a required property" in error.problem
    assert len(provider.requests) == 2
    assert [type(m).__name__ for m in error.messages] == [
        "UserMessage",
        "AssistantMessage",
        "ToolResultMessage",
        "AssistantMessage",
        "ToolResultMessage",
    ]
    answered_everything(error.messages)
    assert error.usage is not None and error.usage.input > 0
    assert agent.state.error is error


async def test_zero_retries_fail_on_the_first_invalid_output() -> None:
    provider = ScriptedProvider([Reply(text="Ann, three")])
    with anyio.fail_after(5), pytest.raises(OutputValidationError, match="not text"):
        await Extractor(provider=provider, output_retries=0).run("Ann is 3.")
    assert len(provider.requests) == 1


async def test_text_in_tool_mode_is_sent_back_as_a_user_message() -> None:
    provider = ScriptedProvider(
        ["Ann, 3 years.", Reply(tool_calls=[call("final_result", name="Ann", age=3)])]
    )
    with anyio.fail_after(5):
        result = await Extractor(provider=provider).run("Ann is 3.")
    assert result.output["age"] == 3
    nudge = provider.requests[1].messages[-1]
    assert isinstance(nudge, UserMessage) and "final_result" in nudge.text


async def test_other_tools_run_before_the_output_and_in_the_same_answer() -> None:
    ran: list[str] = []

    class Looker(Agent[Person]):
        model = "scripted-model"

        @tool
        def lookup(self, name: str) -> str:
            """Look a person up."""
            ran.append(name)
            return f"{name} is 3"

    provider = ScriptedProvider(
        [
            Reply(tool_calls=[call("lookup", name="Ann")]),
            Reply(tool_calls=[call("lookup", name="Bob"), call("final_result", name="Ann", age=3)]),
        ]
    )
    events: list[AgentEvent] = []
    agent = Looker(provider=provider)
    agent.subscribe(events.append)
    with anyio.fail_after(5):
        result = await agent.run("How old is Ann?")
    assert ran == ["Ann", "Bob"]  # a call next to the final result still runs
    assert result.output == {"name": "Ann", "age": 3}
    assert [t.name for t in provider.requests[0].tools] == ["lookup", "final_result"]
    check_protocol(events, complete=True)
    flags = [(e.call.name, e.final_result) for e in events if isinstance(e, ToolExecutionEnd)]
    assert flags == [("lookup", False), ("lookup", False), ("final_result", True)]
    answered_everything(result.messages)


async def test_native_mode_asks_the_provider_for_the_schema() -> None:
    provider = ScriptedProvider(['{"name": "Ann", "age": "x"}', '{"name": "Ann", "age": 3}'])
    agent = Extractor(provider=provider, output_mode="native")
    with anyio.fail_after(5):
        result = await agent.run("Ann is 3.")
    assert result.output == {"name": "Ann", "age": 3}
    schemas = [options.output_schema for options in provider.options]
    assert schemas[0] is not None and schemas[0]["required"] == ["name", "age"]
    assert schemas[0] == schemas[1]
    assert provider.requests[0].tools == ()  # no output tool in native mode
    retry = provider.requests[1].messages[-1]
    assert isinstance(retry, UserMessage) and "'x' is not of type 'integer'" in retry.text


async def test_prompted_mode_puts_the_schema_in_the_system_prompt() -> None:
    provider = ScriptedProvider(['Sure! ```json\n{"ok": true, "reason": "fine"}\n```'])
    agent: Agent[Verdict] = Agent(
        provider, model="scripted-model", output_type=Verdict, output_mode="prompted"
    )
    with anyio.fail_after(5):
        result = await agent.run("Is it fine?")
    assert result.output == Verdict(True, "fine")
    system = provider.requests[0].system_text
    assert "<output_schema>" in system and '"reason"' in system
    assert provider.options[0].output_schema is None


@pytest.mark.parametrize("mode", ["tool", "native", "prompted"])
async def test_literal_and_enum_outputs_are_wrapped(mode: str) -> None:
    reply: Reply | str
    reply = (
        Reply(tool_calls=[call("final_result", result="bad")])
        if mode == "tool"
        else ('{"result": "bad"}')
    )
    provider = ScriptedProvider([reply, reply])
    with anyio.fail_after(5):
        mood = await Agent(provider, model="m", output_type=Mood, output_mode=mode).run("?")
        label: Agent[Literal["good", "bad"]] = Agent(
            provider, model="m", output_type=Literal["good", "bad"], output_mode=mode
        )
        literal = await label.run("?")
    assert mood.output is Mood.BAD
    assert literal.output == "bad"


async def test_a_run_stopped_before_its_output_says_so_when_asked() -> None:
    provider = ScriptedProvider([Reply(tool_calls=[call("final_result", name="Ann")])])
    with anyio.fail_after(5):
        result = await Extractor(provider=provider, max_turns=1).run("Ann is 3.")
    assert result.stop_reason is StopReason.MAX_TURNS
    with pytest.raises(
        OutputError, match="stopped \\(max_turns\\) before the model gave its output"
    ):
        _ = result.output
    answered_everything(result.messages)


async def test_without_an_output_type_the_output_is_the_text() -> None:
    provider = ScriptedProvider(["Hello there."])
    with anyio.fail_after(5):
        result = await Agent(provider, model="m").run("Hi")
    assert result.output == "Hello there." == result.text
    assert provider.requests[0].tools == ()


async def test_abort_during_the_output_answer_ends_the_run_cleanly() -> None:
    provider = ScriptedProvider(
        [Reply(tool_calls=[call("final_result", name="Ann", age=3)], delay=0.01)]
    )
    agent = Extractor(provider=provider)
    with anyio.fail_after(5):
        async with agent.prompt("Ann is 3.") as stream:
            async for event in stream:
                if isinstance(event, ToolExecutionStart) or type(event).__name__ == "MessageUpdate":
                    agent.abort()
            result = await stream.result()
    assert result.stop_reason is StopReason.ABORTED
    with pytest.raises(OutputError):
        _ = result.output
    answered_everything(result.messages)


async def test_the_low_level_loop_takes_the_same_options() -> None:
    provider = ScriptedProvider(['{"result": 42}'])
    config = LoopConfig(
        provider, ModelOptions("m"), output_type=int, output_mode="native", output_retries=0
    )
    assert config.output_spec is not None and config.output_spec.wrapped
    with anyio.fail_after(5):
        async with agent_loop(config, prompt="The answer?") as stream:
            result = await stream.result()
    assert result.output == 42


def test_native_mode_on_a_provider_without_it_fails_at_construction() -> None:
    class Bare:
        name = "bare"

        def stream(self, context: Any, options: Any) -> Any:
            raise AssertionError("no request is made")

    with pytest.raises(UnsupportedOutputError, match="provider 'bare' has no native"):
        Extractor(provider=Bare(), output_mode="native")  # type: ignore[arg-type]


def test_a_tool_named_like_the_output_tool_is_refused() -> None:
    @tool
    def final_result(x: int) -> int:
        """Clash."""
        return x

    with pytest.raises(UnsupportedOutputError, match="a tool is named 'final_result'"):
        Extractor(provider=ScriptedProvider([]), tools=[final_result])
    Extractor(provider=ScriptedProvider([]), tools=[final_result], output_mode="prompted")


def test_a_class_attribute_contradicting_the_type_parameter_is_refused() -> None:
    with pytest.raises(UnsupportedOutputError, match="differs from the type parameter"):

        class Confused(Agent[Person]):
            output_type = Verdict


def test_the_type_parameter_str_means_text() -> None:
    class Texty(Agent[str]):
        model = "m"

    assert Texty.output_type is None


async def test_outputs_of_successive_runs_are_their_own() -> None:
    provider = ScriptedProvider(
        [
            Reply(tool_calls=[call("final_result", name="Ann", age=3)]),
            Reply(tool_calls=[call("final_result", name="Bob", age=4)]),
        ]
    )
    agent = Extractor(provider=provider)
    with anyio.fail_after(5):
        first = await agent.run("Ann is 3.")
        second = await agent.run("Bob is 4.")
    assert (first.output["name"], second.output["name"]) == ("Ann", "Bob")
    # The second request carries the first run's whole exchange, answered.
    answered_everything(agent.messages)
    assert len(provider.requests[1].messages) == 4


# ---------------------------------------------------------------- dataclasses, pydantic, unions


def needs_type_layer(tp: Any) -> None:
    """The type layer takes ``tp`` as an output type (an error here is a failure, not a skip)."""
    build_output_spec(tp)


@dataclasses.dataclass(frozen=True)
class Box:
    width: int
    label: str = "box"


async def test_a_dataclass_output() -> None:
    needs_type_layer(Box)
    provider = ScriptedProvider([Reply(tool_calls=[call("final_result", width=3)])])
    with anyio.fail_after(5):
        result = await Agent(provider, model="m", output_type=Box).run("?")
    assert result.output == Box(3)


async def test_a_pydantic_output_in_native_mode() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Item(pydantic.BaseModel):
        name: str
        price: float

    needs_type_layer(Item)
    provider = ScriptedProvider(['{"name": "pen", "price": "low"}', '{"name": "pen", "price": 2}'])
    with anyio.fail_after(5):
        result = await Agent(provider, model="m", output_type=Item, output_mode="native").run("?")
    assert result.output == Item(name="pen", price=2.0)
    assert "price" in provider.requests[1].messages[-1].text  # the problem went back


async def test_a_union_of_a_dataclass_and_a_typeddict() -> None:
    needs_type_layer(Box | Person)
    provider = ScriptedProvider([Reply(tool_calls=[call("final_result", result={"width": 2})])])
    with anyio.fail_after(5):
        result = await Agent(provider, model="m", output_type=Box | Person).run("?")
    assert result.output == Box(2)


# ---------------------------------------------------------------- any sequence of answers

KINDS = ("valid", "invalid", "text", "tool")


def scripted(kind: str) -> Reply:
    if kind == "valid":
        return Reply(tool_calls=[call("final_result", name="Ann", age=3)])
    if kind == "invalid":
        return Reply(tool_calls=[call("final_result", name="Ann", age="x")])
    if kind == "tool":
        return Reply(tool_calls=[call("lookup", name="Ann")])
    return Reply(text="Ann is 3.")


class Looking(Agent[Person]):
    model = "m"

    @tool
    def lookup(self, name: str) -> str:
        """Look a person up."""
        return "3"


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@settings(max_examples=40, deadline=None)
@given(kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=8), retries=st.integers(0, 3))
def test_any_answers_end_in_the_output_or_the_typed_error(
    backend: str, kinds: list[str], retries: int
) -> None:
    """The run ends at the first valid output if the retries last, else at the failure
    after them; every tool call is answered exactly once either way."""
    failures, expected_requests = 0, 0
    expected: tuple[str, int] | None = None
    for index, kind in enumerate(kinds):
        if kind == "valid":
            expected, expected_requests = ("output", 0), index + 1
            break
        if kind in ("invalid", "text"):
            failures += 1
            if failures > retries:
                expected, expected_requests = ("error", failures), index + 1
                break
    provider = ScriptedProvider([scripted(kind) for kind in kinds])
    agent = Looking(provider=provider, output_retries=retries, max_turns=100)

    async def main() -> tuple[str, int]:
        with anyio.fail_after(10):
            try:
                result = await agent.run("How old is Ann?")
            except OutputValidationError as exc:
                kept = exc.messages == agent.messages
                return ("error" if kept else "error without the messages"), exc.attempts
            except ScriptExhaustedError:  # no outcome within the script
                return "exhausted", 0
        return ("output" if result.output == {"name": "Ann", "age": 3} else "wrong output"), 0

    outcome = anyio.run(main, backend=backend)
    answered_everything(agent.messages)
    if expected is None:
        assert outcome == ("exhausted", 0)
    else:
        assert outcome == expected
        assert len(provider.requests) == expected_requests


class GuardedExtractor(Agent[Person]):
    model = "scripted-model"

    @tool(requires_approval=True)
    def lookup(self, name: str) -> str:
        """Look a person up in the registry."""
        return f"{name} is registered"


async def test_an_output_call_beside_a_call_awaiting_approval_waits_for_the_resume() -> None:
    from agentkit import Approval, Paused

    provider = ScriptedProvider(
        [
            Reply(
                tool_calls=[
                    ToolCall("c-look", "lookup", {"name": "Ann"}),
                    ToolCall("c-out", "final_result", {"name": "Ann", "age": 3}),
                ]
            ),
            Reply(tool_calls=[ToolCall("c-out2", "final_result", {"name": "Ann", "age": 4})]),
        ]
    )
    with anyio.fail_after(10):
        first = await GuardedExtractor(provider=provider).run("Who is Ann?")
        assert first.stop_reason is StopReason.PAUSED and first.paused is not None
        with pytest.raises(OutputError, match="paused"):
            _ = first.output
        saved = Paused.from_json(first.paused.to_json())
        assert [c.id for c in saved.pending] == ["c-look"]
        declined = [m for m in saved.messages if isinstance(m, ToolResultMessage)]
        assert [(m.tool_call_id, m.is_error) for m in declined] == [("c-out", True)]
        agent = GuardedExtractor(provider=provider)
        second = await agent.resume(saved, {"c-look": Approval.approve()})
    assert second.output == {"name": "Ann", "age": 4}
    answered_everything(agent.messages)
    looked = [
        m for m in agent.messages if isinstance(m, ToolResultMessage) and m.tool_call_id == "c-look"
    ]
    assert [m.text for m in looked] == ["Ann is registered"]

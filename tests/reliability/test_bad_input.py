"""Bad input everywhere public gets a clear, typed error naming the problem."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest

from agentkit import (
    Agent,
    Context,
    EventStream,
    LoopConfig,
    ModelOptions,
    NotFoundError,
    ProducerExitedError,
    ProviderError,
    ReasoningOptions,
    RetryPolicy,
    StopReason,
    Timeouts,
    Tool,
    ToolDefinitionError,
    ToolResultMessage,
    UserMessage,
    find_model,
    tool,
)
from agentkit._messages import message_from_dict
from agentkit.testing import Reply, ScriptedProvider, call
from agentkit.testing.emulator import Emulator, ToolUse
from agentkit.testing.emulator import ModelReply as EmulatorReply
from tests.reliability.helpers import FAST_RETRY, MODELS, make_provider

pytestmark = pytest.mark.anyio


def handler(arguments: dict[str, Any], context: Any) -> str:
    return "ok"


@pytest.mark.parametrize(
    ("schema", "match"),
    [
        ({"type": "object", "properties": {"a": {"type": "integr"}}}, "integr"),
        ({"type": "object", "properties": {"a": {"minimum": "zero"}}}, "zero"),
        ({"type": "object", "properties": {"a": {"default": math.nan}}}, "not JSON"),
        ({"type": "object", "properties": {"a": {"enum": {1, 2}}}}, "not JSON"),
        (["not", "an", "object"], "must be a JSON object"),
    ],
)  # fmt: skip
def test_invalid_tool_schemas(schema: Any, match: str) -> None:
    with pytest.raises(ToolDefinitionError, match=match) as info:
        Tool.from_schema("lookup", "Look it up.", schema, handler)
    assert "lookup" in str(info.value)


class Opaque:
    pass


def with_set(x: set[int]) -> str:
    """Uses a set."""
    return ""


def with_class(x: Opaque) -> str:
    """Uses a class JSON cannot carry."""
    return ""


def without_annotation(x) -> str:  # type: ignore[no-untyped-def]
    """Has no annotation."""
    return ""


def with_varargs(*values: int) -> str:
    """Takes *values."""
    return ""


@pytest.mark.parametrize(
    ("fn", "match"),
    [
        (with_set, "parameter 'x' has unsupported type set"),
        (with_class, "parameter 'x' has unsupported type Opaque"),
        (without_annotation, "parameter 'x' has no type annotation"),
        (with_varargs, r"\*args"),
    ],
)
def test_tools_with_unsupported_annotations(fn: Callable[..., Any], match: str) -> None:
    with pytest.raises(ToolDefinitionError, match=match) as info:
        tool(fn)
    assert fn.__name__ in str(info.value)


@tool
async def returns_nan() -> float:
    """Not JSON."""
    return math.nan


@tool
async def returns_bytes() -> Any:
    """Not JSON either."""
    return b"\x00\x01"


@tool
async def returns_huge() -> str:
    """Five megabytes of text."""
    return "x" * 5_000_000


async def test_non_json_and_huge_tool_results() -> None:
    with anyio.fail_after(10):
        provider = ScriptedProvider(
            [
                Reply(
                    tool_calls=[call("returns_nan"), call("returns_bytes"), call("returns_huge")]
                ),
                "done",
            ]
        )
        agent = Agent(provider, model="m", tools=[returns_nan, returns_bytes, returns_huge])
        result = await agent.run("go")
    nan, raw, huge = (m for m in result.messages if isinstance(m, ToolResultMessage))
    assert nan.is_error and "returned float, which cannot be sent to the model" in nan.text
    assert raw.is_error and "returned bytes" in raw.text
    # A huge output is not cut: it goes to the model whole (the service may refuse it).
    assert not huge.is_error and len(huge.text) == 5_000_000
    assert provider.requests[1].messages[-1].text == huge.text
    assert result.stop_reason is StopReason.STOP


async def test_an_unknown_model_is_the_services_not_found_error() -> None:
    assert find_model("no-such-model-anywhere") is None
    body = b'{"type":"error","error":{"type":"not_found_error","message":"model: no-such-model"}}'
    transport = httpx.MockTransport(lambda request: httpx.Response(404, content=body))
    with anyio.fail_after(10):
        async with httpx.AsyncClient(transport=transport) as client:
            provider = make_provider("anthropic", "http://x.invalid", client, retry=FAST_RETRY)
            with pytest.raises(NotFoundError, match="model: no-such-model") as info:
                await Agent(provider, model="no-such-model").run("hi")
    assert info.value.status == 404


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: ModelOptions(123), TypeError, "ModelOptions.model must be a non-empty str"),  # type: ignore[arg-type]
        (lambda: ModelOptions(""), TypeError, "ModelOptions.model"),
        (lambda: ModelOptions("m", max_tokens="big"), TypeError, "ModelOptions.max_tokens"),  # type: ignore[arg-type]
        (lambda: ModelOptions("m", max_tokens=-1), TypeError, "ModelOptions.max_tokens"),
        (lambda: ModelOptions("m", temperature="hot"), TypeError, "ModelOptions.temperature"),  # type: ignore[arg-type]
        (lambda: ModelOptions("m", temperature=math.inf), TypeError, "ModelOptions.temperature"),
        (lambda: ModelOptions("m", stop="END"), TypeError, "ModelOptions.stop"),  # type: ignore[arg-type]
        (lambda: ModelOptions("m", reasoning="high"), TypeError, "ModelOptions.reasoning"),  # type: ignore[arg-type]
        (lambda: ModelOptions("m", extra=[1]), TypeError, "ModelOptions.extra"),  # type: ignore[arg-type]
        (lambda: ReasoningOptions(effort="extreme"), ValueError, "ReasoningOptions.effort"),  # type: ignore[arg-type]
        (lambda: ReasoningOptions(budget_tokens=1.5), TypeError, "budget_tokens"),  # type: ignore[arg-type]
        (lambda: Timeouts(idle="x"), TypeError, "idle must be a number of seconds"),  # type: ignore[arg-type]
        (lambda: Timeouts(connect=0), ValueError, "connect must be a positive number"),
        (lambda: RetryPolicy(max_retries="3"), ValueError, "max_retries"),  # type: ignore[arg-type]
        (lambda: RetryPolicy(base_delay=None), TypeError, "base_delay"),  # type: ignore[arg-type]
        (lambda: Agent(ScriptedProvider([]), model=5), TypeError, "ModelOptions.model"),  # type: ignore[arg-type]
        (lambda: Agent(ScriptedProvider([])), TypeError, "needs a model"),
        (lambda: Agent(model="m"), TypeError, "needs a provider"),
        (lambda: Agent(object(), model="m"), TypeError, "Provider protocol"),  # type: ignore[arg-type]
        (lambda: Agent(ScriptedProvider([]), model="m", max_turns="9"), TypeError, "max_turns"),
        (lambda: Agent(ScriptedProvider([]), model="m", max_turns=0), ValueError, "max_turns"),
        (lambda: Agent(ScriptedProvider([]), model="m", tool_timeout="1"), TypeError,
         "tool_timeout"),
        (lambda: Agent(ScriptedProvider([]), model="m", tool_execution="both"), ValueError,
         "tool_execution"),
        (lambda: Agent(ScriptedProvider([]), model="m", tools=[len]), TypeError, "use @tool"),  # type: ignore[list-item]
        (lambda: Agent(ScriptedProvider([]), model="m", temprature=1), TypeError, "temprature"),
        (lambda: LoopConfig(ScriptedProvider([]), ModelOptions("m"), max_turns=2.5),  # type: ignore[arg-type]
         TypeError, "max_turns"),
    ],
)  # fmt: skip
def test_wrong_option_types(build: Callable[[], Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        build()


class BrokenProvider:
    """A provider whose ``stream`` misbehaves in the way ``kind`` says."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    @property
    def name(self) -> str:
        return f"broken-{self.kind}"

    def stream(self, context: Context, options: ModelOptions) -> Any:
        if self.kind == "not_a_stream":
            return None

        async def produce(out: EventStream[Any, Any]) -> None:
            if self.kind == "ends_with_none":
                out.end(None)
            elif self.kind == "ends_with_user_message":
                out.end(UserMessage("hi"))
            # "returns": the producer returns without ending the stream

        return EventStream(produce)


@pytest.mark.parametrize(
    ("kind", "error", "match"),
    [
        (
            "not_a_stream",
            ProviderError,
            "stream\\(\\) returned NoneType, which is not an AssistantStream",
        ),
        ("ends_with_none", ProviderError, "ended its stream with NoneType"),
        ("ends_with_user_message", ProviderError, "ended its stream with UserMessage"),
        ("returns", ProducerExitedError, "producer returned without ending"),
    ],
)
async def test_a_provider_that_returns_no_message(
    kind: str, error: type[Exception], match: str
) -> None:
    with anyio.fail_after(5):
        agent = Agent(BrokenProvider(kind), model="m")
        with pytest.raises(error, match=match) as info:
            await agent.run("hi")
        assert agent.state.error is info.value
        assert [m.role for m in agent.messages] == ["user"]  # no invented answer
        assert f"broken-{kind}" in str(info.value) or kind == "returns"


# --------------------------------------------------------------------------- bad bytes


@pytest.mark.parametrize("api", ["anthropic", "openrouter"])
async def test_a_non_utf8_file_name_from_a_tool_neither_breaks_the_next_request_nor_the_save(
    api: str,
) -> None:
    """Before: every later prompt failed with RunError(UnicodeEncodeError), nothing sent."""
    bad_name = os.fsdecode(b"draft-\xff.txt")

    @tool
    def listdir() -> list[str]:
        """List the working directory."""
        return [bad_name, "notes.txt"]

    script = [
        EmulatorReply(tool_calls=[ToolUse("listdir", {}, id="call_1")]),
        EmulatorReply(text="Two files."),
        EmulatorReply(text="Still fine."),
    ]
    with anyio.fail_after(20):
        async with Emulator(script=script) as emulator, httpx.AsyncClient() as client:
            base = (
                emulator.anthropic_base_url if api == "anthropic" else emulator.openrouter_base_url
            )
            agent = Agent(make_provider(api, base, client), model=MODELS[api], tools=[listdir])
            first = await agent.run("What is here?")
            second = await agent.run("And now?")
        assert (first.text, second.text) == ("Two files.", "Still fine.")
        assert len(emulator.requests) == 3
        [result] = [
            block
            for turn in emulator.requests[1].request.turns
            for block in turn.blocks
            if block.kind == "tool_result"
        ]
        assert json.loads(result.text) == ["draft-\ufffd.txt", "notes.txt"]
    saved = json.dumps(
        [m.to_dict() for m in agent.messages], allow_nan=False, ensure_ascii=False
    ).encode("utf-8")
    assert tuple(message_from_dict(m) for m in json.loads(saved)) == agent.messages

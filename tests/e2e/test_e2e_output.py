"""End to end over loopback HTTP: typed output through each provider and mode, on the emulator."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal, TypedDict

import anyio
import pytest

from agentkit import (
    Agent,
    AnthropicProvider,
    AssistantMessage,
    BadRequestError,
    Context,
    ModelOptions,
    NotFoundError,
    OpenRouterProvider,
    OutputValidationError,
    Provider,
    RetryPolicy,
    ToolResultMessage,
    UnsupportedOutputError,
    UserMessage,
    tool,
)
from agentkit.testing.emulator import Emulator, ModelReply, ToolUse, output_policy

pytestmark = pytest.mark.anyio

API_KEY = "sk-e2e-SENTINEL-key"
MODEL = {"anthropic": "claude-haiku-4-5-20251001", "openrouter": "anthropic/claude-haiku-4.5"}
OLD_MODEL = {"anthropic": "claude-3-5-haiku-20241022", "openrouter": "anthropic/claude-3.5-haiku"}
APIS = ["anthropic", "openrouter"]
MODES = ["tool", "native", "prompted"]


class Person(TypedDict):
    name: str
    age: int


class Extractor(Agent[Person]):
    system_prompt = "Extract the person the user describes."

    @tool
    def lookup(self, name: str) -> str:
        """Look up a person's age by name."""
        return f"{name} is 3 years old."


def provider_for(api: str, emulator: Emulator) -> Provider:
    retry = RetryPolicy(max_retries=0)
    if api == "anthropic":
        return AnthropicProvider(api_key=API_KEY, base_url=emulator.anthropic_base_url, retry=retry)
    return OpenRouterProvider(api_key=API_KEY, base_url=emulator.openrouter_base_url, retry=retry)


@asynccontextmanager
async def session(api: str, script: Any) -> AsyncIterator[tuple[Emulator, Provider]]:
    async with Emulator(script=script) as emulator:
        provider = provider_for(api, emulator)
        async with provider:  # type: ignore[attr-defined]
            yield emulator, provider


def output_body_field(api: str, body: dict[str, Any]) -> Any:
    if api == "anthropic":
        return body.get("output_config", {}).get("format")
    return body.get("response_format")


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("mode", MODES)
async def test_a_typed_run_retries_after_invalid_output(api: str, mode: str) -> None:
    with anyio.fail_after(20):
        async with session(api, output_policy(invalid=1)) as (emu, provider):
            agent = Extractor(provider=provider, model=MODEL[api], output_mode=mode)
            result = await agent.run("Ann is 3.")
    assert result.output == {"name": "example", "age": 1}
    first, second = emu.requests
    assert first.status == second.status == 200
    # The rejected answer went back with the problem: 'name' was missing.
    feedback = [m for m in result.messages if isinstance(m, ToolResultMessage | UserMessage)][1:]
    assert len(feedback) >= 1 and "'name' is a required property" in feedback[0].text
    answers = [m for m in result.messages if isinstance(m, AssistantMessage)]
    assert len(answers) == 2
    wire = output_body_field(api, first.body)
    tools = [t.get("name") or t["function"]["name"] for t in first.body.get("tools", [])]
    if mode == "native":
        assert wire is not None
        schema = wire["schema"] if api == "anthropic" else wire["json_schema"]["schema"]
        assert schema["required"] == ["name", "age"]
        assert first.request is not None and first.request.output_schema == schema
        if api == "openrouter":
            assert wire["json_schema"]["strict"] is True
            assert first.body["provider"]["require_parameters"] is True
        assert "final_result" not in tools
    else:
        assert wire is None
        assert ("final_result" in tools) == (mode == "tool")
    system = json.dumps(first.body.get("system") or first.body["messages"][0])
    assert ("<output_schema>" in system) == (mode == "prompted")


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("mode", MODES)
async def test_the_retry_limit_ends_the_run_with_a_typed_error(api: str, mode: str) -> None:
    with anyio.fail_after(20):
        async with session(api, output_policy(invalid=10)) as (emu, provider):
            agent = Extractor(provider=provider, model=MODEL[api], output_mode=mode)
            with pytest.raises(OutputValidationError) as caught:
                await agent.run("Ann is 3.", limits=None)
    error = caught.value
    assert error.attempts == agent.output_retries + 1 == 3
    assert len(emu.requests) == 3
    assert "'name' is a required property" in error.problem
    answers = [m for m in error.messages if isinstance(m, AssistantMessage)]
    assert len(answers) == 3
    assert error.usage is not None and error.usage.input > 0
    assert API_KEY not in repr(error) and API_KEY not in str(error.messages)


@pytest.mark.parametrize("api", APIS)
async def test_tools_then_output_over_http(api: str) -> None:
    script = [
        ModelReply(text="Let me look.", tool_calls=(ToolUse("lookup", {"name": "Ann"}),)),
        ModelReply(tool_calls=(ToolUse("final_result", {"name": "Ann", "age": 3}),)),
    ]
    with anyio.fail_after(20):
        async with session(api, script) as (emu, provider):
            result = await Extractor(provider=provider, model=MODEL[api]).run("How old is Ann?")
            # The accepted result is in the history the next request sends: it is valid.
            emu.add_replies(
                ModelReply(tool_calls=(ToolUse("final_result", {"name": "Bo", "age": 4}),))
            )
            again = await Extractor(
                provider=provider, model=MODEL[api], messages=result.messages
            ).run("And Bo?")
    assert result.output == {"name": "Ann", "age": 3}
    assert again.output == {"name": "Bo", "age": 4}
    assert [r.status for r in emu.requests] == [200, 200, 200]


@pytest.mark.parametrize("api", APIS)
async def test_a_literal_output_in_native_mode(api: str) -> None:
    script = [ModelReply(text='{"result": "no"}')]
    with anyio.fail_after(20):
        async with session(api, script) as (emu, provider):
            agent: Agent[Literal["yes", "no"]] = Agent(
                provider,
                model=MODEL[api],
                output_type=Literal["yes", "no"],
                output_mode="native",
            )
            result = await agent.run("Is the sky green?")
    assert result.output == "no"
    shown = emu.requests[0].request
    assert shown is not None and shown.output_schema is not None
    assert shown.output_schema["properties"]["result"]["enum"] == ["yes", "no"]


@pytest.mark.parametrize("api", APIS)
def test_native_mode_on_a_model_without_it_fails_before_any_request(api: str) -> None:
    with Emulator() as emu:
        provider = provider_for(api, emu)
        with pytest.raises(UnsupportedOutputError, match="no native structured output"):
            Extractor(provider=provider, model=OLD_MODEL[api], output_mode="native")
        assert emu.requests == ()


@pytest.mark.parametrize("api", APIS)
async def test_the_service_refuses_a_native_request_the_client_did_not_vet(api: str) -> None:
    # A hand-set output_schema bypasses the loop's check: the service has the last word.
    with anyio.fail_after(20):
        async with session(api, [ModelReply(text="{}")]) as (emu, provider):
            options = ModelOptions(OLD_MODEL[api], output_schema={"type": "object"})
            stream = provider.stream(Context((), (UserMessage("hi"),)), options)
            expected = BadRequestError if api == "anthropic" else NotFoundError
            with pytest.raises(expected):
                async with stream:
                    await stream.result()
    assert emu.requests[0].status == (400 if api == "anthropic" else 404)

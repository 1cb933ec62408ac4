"""The emulator refuses and cuts short what the services do (issue 18 item 7)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from agentkit import Agent, StopReason
from agentkit.providers import ContextLengthExceededError, NotFoundError
from agentkit.testing.emulator import Emulator, ModelReply, ToolUse

pytestmark = pytest.mark.anyio

RECORDED = Path(__file__).resolve().parent.parent / "fixtures" / "recorded"
MODEL = {"anthropic": "claude-haiku-4-5", "openrouter": "anthropic/claude-haiku-4.5"}
APIS = ["anthropic", "openrouter"]
LONG = " ".join(f"word{n}" for n in range(100))  # 100 words, about 150 tokens


def provider(api: str, emu: Emulator) -> Any:
    return emu.anthropic_provider() if api == "anthropic" else emu.openrouter_provider()


async def ask(api: str, script: list[ModelReply], model: str | None = None, **agent: Any) -> Any:
    with anyio.fail_after(10):
        async with Emulator(script=script) as emu, provider(api, emu) as p:
            result = await Agent(provider=p, model=model or MODEL[api], **agent).run("Go.")
    return result, emu


@pytest.mark.parametrize("api", APIS)
async def test_max_tokens_cuts_the_answer_and_stops_for_length(api: str) -> None:
    result, emu = await ask(api, [ModelReply(text=LONG)], max_tokens=3)
    answer = result.messages[-1]
    assert answer.stop_reason is StopReason.LENGTH
    assert answer.text == LONG[:12]  # 3 tokens of 4 characters
    assert answer.usage.output == 3
    assert emu.requests[0].usage is not None


@pytest.mark.parametrize("api", APIS)
async def test_tool_calls_past_max_tokens_are_not_made(api: str) -> None:
    reply = ModelReply(text="Let me look.", tool_calls=[ToolUse("search", {"q": "x" * 80})])
    result, _ = await ask(api, [reply], max_tokens=5)
    answer = result.messages[-1]
    assert answer.stop_reason is StopReason.LENGTH
    assert answer.tool_calls == ()
    assert answer.text == "Let me look."


@pytest.mark.parametrize("api", APIS)
async def test_a_stop_sequence_ends_the_text_before_it(api: str) -> None:
    result, emu = await ask(api, [ModelReply(text="alpha beta STOP gamma")], stop=("STOP",))
    answer = result.messages[-1]
    assert answer.text == "alpha beta "
    assert answer.stop_reason is StopReason.STOP
    if api == "anthropic":
        assert emu.requests[0].body["stop_sequences"] == ["STOP"]


@pytest.mark.parametrize("api", APIS)
async def test_an_unknown_model_is_a_404_in_the_apis_shape(api: str) -> None:
    model = "claude-sonet-4-5" if api == "anthropic" else "anthropic/claude-sonet-4.5"  # typos
    with pytest.raises(NotFoundError) as raised:
        await ask(api, [ModelReply(text="never")], model=model)
    assert raised.value.status == 404
    assert model in raised.value.message


async def test_the_404_bodies_match_each_apis_error_shape() -> None:
    with anyio.fail_after(10):
        async with Emulator() as emu, httpx.AsyncClient(verify=False) as client:
            anthropic = await client.post(
                f"{emu.anthropic_base_url}/v1/messages",
                json={"model": "claude-nope", "max_tokens": 5, "messages": [
                    {"role": "user", "content": "hi"}]},
            )  # fmt: skip
            openrouter = await client.post(
                f"{emu.openrouter_base_url}/chat/completions",
                json={"model": "nope", "messages": [{"role": "user", "content": "hi"}]},
            )
    assert anthropic.status_code == 404
    error = anthropic.json()
    assert error["type"] == "error" and error["error"]["type"] == "not_found_error"
    assert error["error"]["message"] == "model: claude-nope"
    assert error["request_id"].startswith("req_")
    assert openrouter.status_code == 404
    assert openrouter.json()["error"]["code"] == 404
    assert openrouter.json()["error"]["message"] == "No endpoints found for nope."


@pytest.mark.parametrize("api", APIS)
async def test_a_prompt_over_the_context_window_is_refused_as_context_length(api: str) -> None:
    huge = "y" * (4 * 201_000)  # about 201,000 tokens for a 200,000-token model
    with pytest.raises(ContextLengthExceededError) as raised:
        await ask(api, [ModelReply(text="never")], system_prompt=huge)
    assert raised.value.status == 400


@pytest.mark.parametrize("api", APIS)
async def test_prompt_plus_max_tokens_over_the_window_is_refused(api: str) -> None:
    near = "y" * (4 * 199_000)
    with pytest.raises(ContextLengthExceededError):
        await ask(api, [ModelReply(text="never")], system_prompt=near, max_tokens=8000)
    result, _ = await ask(api, [ModelReply(text="fits")], system_prompt=near, max_tokens=500)
    assert result.text == "fits"


async def test_the_recorded_tool_use_then_text_request_is_rejected_as_anthropic_did() -> None:
    request = json.loads((RECORDED / "anthropic_messages_400_tool_result_ordering.request.json")
                         .read_text())["body"]  # fmt: skip
    recorded = json.loads(
        (RECORDED / "anthropic_messages_400_tool_result_ordering.json").read_text()
    )
    with anyio.fail_after(10):
        async with Emulator() as emu, httpx.AsyncClient(verify=False) as client:
            response = await client.post(f"{emu.anthropic_base_url}/v1/messages", json=request)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == recorded["error"]["type"]
    assert (
        "`tool_use` ids were found without `tool_result` blocks immediately after: call_1"
        in (response.json()["error"]["message"])
    )


@pytest.mark.parametrize("api", APIS)
async def test_a_refusal_stop_reason_is_served_on_both_apis(api: str) -> None:
    result, _ = await ask(api, [ModelReply(text="I can't help with that.", stop_reason="refusal")])
    answer = result.messages[-1]
    assert answer.stop_reason is StopReason.REFUSAL
    assert answer.text == "I can't help with that."

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


# -- what an aborted request is billed (issue 18 item 1, done-when) ----------------------


def _billed_usage(api: str, billed: dict[str, Any]) -> tuple[int, int, int, int]:
    """(uncached input, cache read, cache write, output) in agentkit's convention."""
    if api == "anthropic":
        return (
            billed["input_tokens"],
            billed["cache_read_input_tokens"],
            billed["cache_creation_input_tokens"],
            billed["output_tokens"],
        )
    details = billed["prompt_tokens_details"]
    read, write = details["cached_tokens"], details.get("cache_write_tokens", 0)
    return billed["prompt_tokens"] - read - write, read, write, billed["completion_tokens"]


@pytest.mark.parametrize("api", APIS)
async def test_an_abort_mid_answer_reports_what_the_emulator_billed(api: str) -> None:
    from agentkit import MessageUpdate, TextDelta
    from agentkit.testing.emulator import StallFault

    system = "Review the patch; cite the line you mean. " * 600  # about 6,300 tokens
    with anyio.fail_after(20):
        async with Emulator(script=[ModelReply(text=LONG * 3)]) as emu:
            # The stall comes right after the first text frame, so the client has read
            # every frame sent when it aborts (Anthropic: start, block start, ping, delta).
            emu.inject(StallFault(seconds=60, after=4 if api == "anthropic" else 3))
            async with provider(api, emu) as p:
                agent = Agent(provider=p, model=MODEL[api], system_prompt=system)
                agent.subscribe(
                    lambda e: (
                        agent.abort()
                        if isinstance(e, MessageUpdate) and isinstance(e.delta, TextDelta)
                        else None
                    )
                )
                result = await agent.run("Go.")
            # The emulator bills once it has seen the client leave (OpenRouter's lookup
            # already waited for that); wait for that condition before it shuts down.
            # Polling: the record changes in the emulator's thread, which has no event to
            # share; the fail_after above bounds it.
            while emu.requests[0].billed is emu.requests[0].usage:  # noqa: ASYNC110
                await anyio.sleep(0.01)
    assert result.stop_reason is StopReason.ABORTED
    record = emu.requests[0]
    assert record.billed is not None and record.usage is not None
    input_, read, write, output = _billed_usage(api, dict(record.billed))
    # Billed for what was sent, not for the whole reply.
    assert 0 < output < _billed_usage(api, dict(record.usage))[3]
    usage = result.usage
    assert usage.partial
    assert (usage.input, usage.cache_read, usage.cache_write, usage.output) == (
        input_,
        read,
        write,
        output,
    )
    assert write > 4096  # the system prompt was written
    assert usage.cost is not None and usage.cost > 0
    if api == "openrouter":
        assert usage.cost == pytest.approx(record.billed["cost"])


async def test_the_generation_endpoint_serves_what_a_request_billed() -> None:
    with anyio.fail_after(10):
        async with Emulator(script=[ModelReply(text="Hello there.")]) as emu:
            async with emu.openrouter_provider() as p:
                await Agent(provider=p, model=MODEL["openrouter"]).run("Hi.")
            gen = emu.requests[0].headers.get("x-generation-id")  # request headers: none
            assert gen is None
            async with httpx.AsyncClient(verify=False) as client:
                listing = await client.get(f"{emu.openrouter_base_url}/generation?id=gen-nope")
                assert listing.status_code == 404
                assert listing.json()["error"]["code"] == 404
    billed = emu.requests[0].billed
    assert billed is not None and billed == emu.requests[0].usage


async def test_a_failed_generation_lookup_is_bounded_and_logged() -> None:
    from structlog.testing import capture_logs

    from agentkit.providers._openrouter import fetch_generation_usage

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"error": {"code": 404, "message": "Not found"}})

    with anyio.fail_after(10), capture_logs() as logs:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            found = await fetch_generation_usage(
                client, "https://or.example/api/v1", "gen-1", limit=0.3
            )
    assert found is None
    assert [e["event"] for e in logs] == ["openrouter.generation_lookup_failed"]


# -- tool_choice and models (item 7) -------------------------------------------------------


def _choice(api: str, kind: str, name: str = "search") -> Any:
    if kind == "tool":
        return (
            {"type": "tool", "name": name}
            if api == "anthropic"
            else {"type": "function", "function": {"name": name}}
        )
    if kind == "any":
        return {"type": "any"} if api == "anthropic" else "required"
    return {"type": kind} if api == "anthropic" else kind


async def _post(api: str, emu: Emulator, body: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(verify=False) as client:
        if api == "anthropic":
            return await client.post(f"{emu.anthropic_base_url}/v1/messages", json=body)
        return await client.post(f"{emu.openrouter_base_url}/chat/completions", json=body)


def _tool_body(api: str, choice: Any, name: str = "search") -> dict[str, Any]:
    schema = {"type": "object", "properties": {"q": {"type": "string"}}}
    tools = (
        [{"name": name, "description": "d", "input_schema": schema}]
        if api == "anthropic"
        else [{"type": "function", "function": {"name": name, "parameters": schema}}]
    )
    return {
        "model": MODEL[api],
        "max_tokens": 200,
        "messages": [{"role": "user", "content": "hi"}],
        "tools": tools,
        "tool_choice": choice,
    }


def _calls(api: str, body: dict[str, Any]) -> tuple[list[str], str]:
    if api == "anthropic":
        names = [b["name"] for b in body["content"] if b["type"] == "tool_use"]
        return names, body["stop_reason"]
    choice = body["choices"][0]
    names = [c["function"]["name"] for c in choice["message"].get("tool_calls") or []]
    return names, choice["finish_reason"]


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(
    ("kind", "reply", "calls", "stop"),
    [
        ("none", ModelReply(tool_calls=[ToolUse("search", {"q": "x"})]), [], "end"),
        ("tool", ModelReply(text="Plain answer."), ["search"], "tool"),
        ("any", ModelReply(text="Plain answer."), ["search"], "tool"),
        ("auto", ModelReply(text="Plain answer."), [], "end"),
    ],
)
async def test_tool_choice_is_enforced(
    api: str, kind: str, reply: ModelReply, calls: list[str], stop: str
) -> None:
    with anyio.fail_after(10):
        async with Emulator(script=[reply]) as emu:
            response = await _post(api, emu, _tool_body(api, _choice(api, kind)))
    assert response.status_code == 200, response.text
    names, finish = _calls(api, response.json())
    assert names == calls
    wire = {"end": ("end_turn", "stop"), "tool": ("tool_use", "tool_calls")}[stop]
    assert finish == wire[0 if api == "anthropic" else 1]


@pytest.mark.parametrize("api", APIS)
async def test_a_forced_tool_that_is_not_offered_is_a_400(api: str) -> None:
    body = _tool_body(api, _choice(api, "tool", name="missing"))
    with anyio.fail_after(10):
        async with Emulator(script=[ModelReply(text="never")]) as emu:
            response = await _post(api, emu, body)
    assert response.status_code == 400
    if api == "anthropic":
        assert response.json()["error"]["type"] == "invalid_request_error"
    assert "missing" in response.text
    assert emu.requests[0].reply is None  # the script was not consumed


async def test_both_model_lists_are_served_in_their_apis_shapes() -> None:
    with anyio.fail_after(10):
        async with Emulator() as emu, httpx.AsyncClient(verify=False) as client:
            anthropic = (await client.get(f"{emu.anthropic_base_url}/v1/models")).json()
            one = await client.get(f"{emu.anthropic_base_url}/v1/models/claude-haiku-4-5")
            missing = await client.get(f"{emu.anthropic_base_url}/v1/models/claude-nope")
            openrouter = (await client.get(f"{emu.openrouter_base_url}/models")).json()
    ids = [m["id"] for m in anthropic["data"]]
    assert "claude-haiku-4-5" in ids and anthropic["has_more"] is False
    assert all(m["type"] == "model" for m in anthropic["data"])
    assert one.json()["id"] == "claude-haiku-4-5"
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
    haiku = next(m for m in openrouter["data"] if m["id"] == "anthropic/claude-haiku-4.5")
    assert haiku["context_length"] == 200_000
    assert float(haiku["pricing"]["prompt"]) == pytest.approx(1e-6)
    assert float(haiku["pricing"]["completion"]) == pytest.approx(5e-6)

"""Lifecycle, the command line, scripts and the demo policy."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentkit import Agent, UserMessage
from agentkit.testing.emulator import (
    Block,
    Emulator,
    EmulatorConfig,
    ModelReply,
    ModelRequest,
    ModelTool,
    ToolUse,
    Turn,
    demo_policy,
)
from agentkit.testing.emulator.__main__ import main

REQUEST = {
    "model": "claude-3-5-haiku",
    "max_tokens": 50,
    "messages": [{"role": "user", "content": "Hi"}],
}


def emulator_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("agentkit-emulator")]


def refused(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.anyio
async def test_starts_fast_and_stops_without_leaving_threads_or_sockets() -> None:
    with anyio.fail_after(10):
        before = len(emulator_threads())
        started = time.monotonic()
        async with Emulator() as emu:
            assert time.monotonic() - started < 1.0
            port = emu.port
            assert emu.openrouter_base_url == f"http://127.0.0.1:{port}/api/v1"
            async with httpx.AsyncClient(verify=False) as client:
                ok = await client.post(f"{emu.anthropic_base_url}/v1/messages", json=REQUEST)
                assert ok.status_code == 200
                # A stalled stream must not hold up shutdown.
                async with client.stream(
                    "POST",
                    f"{emu.anthropic_base_url}/v1/messages",
                    json=REQUEST | {"stream": True},
                    headers={"x-emulator-fault": "stall;seconds=60;after=1"},
                ) as stalled:
                    assert stalled.status_code == 200
                    stopping = time.monotonic()
                    await anyio.to_thread.run_sync(emu.stop)  # while the stream is stalled
                    assert time.monotonic() - stopping < 3
                    # Shutdown ends the stall; the rest of the stream was sent first.
                    rest = b"".join([chunk async for chunk in stalled.aiter_raw()])
                    assert b'"type":"message_stop"' in rest
        assert len(emulator_threads()) == before
        assert refused(port)
        with pytest.raises(RuntimeError, match="not running"):
            emu.base_url  # noqa: B018


def test_sync_use_from_a_thread_and_a_fixed_port() -> None:
    results: list[Any] = []

    def worker() -> None:
        with Emulator() as emu:
            results.append(
                httpx.post(
                    f"{emu.anthropic_base_url}/v1/messages", json=REQUEST, verify=False
                ).json()["content"]
            )

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(10)
    assert results == [[{"type": "text", "text": "You said: Hi"}]]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    with Emulator(port=free) as emu:
        assert emu.port == free
        with pytest.raises(RuntimeError, match="already running"):
            emu.start()


def test_command_line_serves_until_stopped(capsys: pytest.CaptureFixture[str]) -> None:
    stop = threading.Event()
    codes: list[int] = []
    thread = threading.Thread(
        target=lambda: codes.append(main(["--port", "0", "--providers", "3"], stop=stop))
    )
    thread.start()
    deadline = time.monotonic() + 5
    while "OpenRouter API" not in (out := capsys.readouterr().out) and time.monotonic() < deadline:
        time.sleep(0.01)
    url = next(line.split()[2] for line in out.splitlines() if line.startswith("Anthropic API"))
    response = httpx.post(f"{url}/v1/messages", json=REQUEST, verify=False)
    assert response.status_code == 200
    stop.set()
    thread.join(5)
    assert codes == [0]
    assert main(["--providers", "0"]) == 2


@pytest.mark.anyio
async def test_script_replies_policy_and_exhaustion() -> None:
    with anyio.fail_after(10):
        seen: list[ModelRequest] = []

        def policy(request: ModelRequest) -> ModelReply:
            seen.append(request)
            return ModelReply(text=f"policy saw {len(request.turns)} turn(s)")

        async with (
            Emulator(script=[ModelReply(text="one")]) as emu,
            httpx.AsyncClient(base_url=emu.anthropic_base_url, verify=False) as client,
        ):
            first = await client.post("/v1/messages", json=REQUEST)
            assert first.json()["content"][0]["text"] == "one"
            exhausted = await client.post("/v1/messages", json=REQUEST)
            assert exhausted.status_code == 500
            assert "script has no reply left" in exhausted.json()["error"]["message"]
            emu.set_policy(policy)
            third = await client.post("/v1/messages", json=REQUEST)
            assert third.json()["content"][0]["text"] == "policy saw 1 turn(s)"
            assert seen[0].api == "anthropic" and seen[0].turns[0].blocks[0].text == "Hi"
            missing = await client.post("/v1/nothing", json={})
            assert missing.status_code == 404


def test_config_rejects_unknown_options_and_empty_upstreams() -> None:
    with pytest.raises(TypeError):
        Emulator(no_such_option=True)
    with pytest.raises(ValueError, match="at least one upstream"):
        EmulatorConfig(openrouter_providers=())
    config = EmulatorConfig(min_cacheable_tokens={"anthropic/claude-3.5-haiku": 100})
    assert config.minimum("claude-3-5-haiku-20241022", implicit=False) == 100
    assert EmulatorConfig().minimum("claude-haiku-4-5", implicit=False) == 4096


TOOLS = (
    ModelTool(
        "add",
        "Add two numbers",
        {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}},
    ),
    ModelTool(
        "get_weather",
        "Get the current weather for a city",
        {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
        },
    ),
)


def ask(text: str, *, thinking: bool = False) -> ModelRequest:
    return ModelRequest(
        "anthropic",
        "m",
        "",
        (Turn("user", (Block("text", text=text),)),),
        TOOLS,
        100,
        thinking,
    )


def test_demo_policy_calls_matching_tools_then_summarises() -> None:
    reply = demo_policy(ask("Please add 2 and 3.5"))
    assert reply.tool_calls == (ToolUse("add", {"a": 2, "b": 3.5}),)
    assert reply.final_stop_reason == "tool_use"
    weather = demo_policy(ask("What is the weather in Paris?", thinking=True))
    assert weather.tool_calls == (ToolUse("get_weather", {"city": "Paris", "unit": "celsius"}),)
    assert weather.thinking
    turns = (
        Turn("user", (Block("text", text="add 2 and 3"),)),
        Turn("assistant", (Block("tool_use", id="t1", name="add", input={"a": 2, "b": 3}),)),
        Turn("user", (Block("tool_result", id="t1", text="5"),)),
    )
    summary = demo_policy(ModelRequest("openrouter", "m", "", turns, TOOLS, None, False))
    assert summary.text == "Here is what the tools returned. add: 5."
    assert summary.final_stop_reason == "end_turn"
    assert demo_policy(ask("Hello there")).text == "You said: Hello there"


ARITHMETIC_TOOLS = (
    *TOOLS,
    ModelTool("multiply", "Multiply two numbers", TOOLS[0].parameters),
    ModelTool("subtract", "The difference of two numbers", TOOLS[0].parameters),
)


def ask_tools(text: str, tools: tuple[ModelTool, ...]) -> ModelRequest:
    return ModelRequest(
        "openrouter", "m", "", (Turn("user", (Block("text", text=text),)),), tools, None, False
    )


def test_demo_policy_calls_the_tool_doing_the_arithmetic_of_the_text() -> None:
    # No word in common with any tool ("what" and "is" are stop words): the
    # operator picks the tool, the operands become its arguments.
    assert demo_policy(ask_tools("What is 2 + 3?", ARITHMETIC_TOOLS)).tool_calls == (
        ToolUse("add", {"a": 2, "b": 3}),
    )
    assert demo_policy(ask_tools("6 x 7?", ARITHMETIC_TOOLS)).tool_calls == (
        ToolUse("multiply", {"a": 6, "b": 7}),
    )
    assert demo_policy(ask_tools("10-4.5", ARITHMETIC_TOOLS)).tool_calls == (
        ToolUse("subtract", {"a": 10, "b": 4.5}),
    )
    # Arithmetic with no tool for it is answered directly.
    assert demo_policy(ask_tools("What is 8 / 2?", ARITHMETIC_TOOLS)).tool_calls == ()
    # A shared word still wins over the arithmetic.
    weather = demo_policy(ask_tools("weather at 2 + 3", ARITHMETIC_TOOLS))
    assert [c.name for c in weather.tool_calls] == ["get_weather"]


@given(st.integers(-10_000, 10_000), st.integers(-10_000, 10_000), st.sampled_from(["+", " + "]))
def test_demo_policy_adds_any_two_integers(a: int, b: int, op: str) -> None:
    reply = demo_policy(ask_tools(f"What is {a}{op}{b}?", ARITHMETIC_TOOLS))
    assert reply.tool_calls == (ToolUse("add", {"a": a, "b": b}),)


@pytest.mark.anyio
@pytest.mark.parametrize("api", ["anthropic", "openrouter"])
async def test_the_emulator_hands_out_providers_pointed_at_itself(api: str) -> None:
    async with Emulator(script=[ModelReply(text="hello from the emulator")]) as emu:
        provider = emu.anthropic_provider() if api == "anthropic" else emu.openrouter_provider()
        with anyio.fail_after(10):
            async with provider:
                # OpenRouter names models by vendor: a bare name is a 404 there.
                model = "claude-haiku-4-5" if api == "anthropic" else "anthropic/claude-haiku-4.5"
                agent = Agent(provider=provider, model=model)
                result = await agent.run("Hi")
        assert result.text == "hello from the emulator"
        assert [r.api for r in emu.requests] == [api]
        assert "emulator-local-key" not in repr(provider)
        assert isinstance(agent.messages[0], UserMessage)

"""The OpenRouter front-end over loopback HTTP: chunks, usage, cost, sticky routing."""

from __future__ import annotations

import json
import math
from typing import Any

import anyio
import httpx
import pytest

from agentkit.testing.emulator import Emulator, ModelReply, ToolUse

MODEL = "anthropic/claude-3.5-haiku"  # $0.80 / $4 per million; minimum 2,048 tokens


def body(system: str = "", user: str = "Hi", **extra: Any) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    if system:
        messages.append(
            {
                "role": "system",
                "content": [
                    {"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}
                ],
            }
        )
    messages.append({"role": "user", "content": [{"type": "text", "text": user}]})
    return {"model": MODEL, "stream": True, "messages": messages} | extra


async def post(emu: Emulator, data: dict[str, Any], **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(
        base_url=emu.openrouter_base_url, timeout=5, verify=False
    ) as client:
        return await client.post("/chat/completions", json=data, headers=headers)


def final_usage(events: list[tuple[str | None, Any]]) -> dict[str, Any]:
    return next(d["usage"] for _, d in events if isinstance(d, dict) and "usage" in d)


@pytest.mark.anyio
async def test_stream_shape_keepalives_duplicate_finish_usage_done(emu: Emulator, sse) -> None:
    with anyio.fail_after(10):
        emu.add_replies(
            ModelReply(
                text="Sunny in Paris today.", tool_calls=[ToolUse("get_weather", {"city": "Paris"})]
            )
        )
        response = await post(emu, body())
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert response.headers["x-generation-id"].startswith("gen-")
        events = sse(response.text)
        assert events[0] == ("comment", "OPENROUTER PROCESSING")
        assert events[-1] == (None, "[DONE]")
        chunks = [d for n, d in events if n is None and d != "[DONE]"]
        assert all(c["object"] == "chat.completion.chunk" for c in chunks)
        assert {c["provider"] for c in chunks} == {"Anthropic"}
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
        assert text == "Sunny in Paris today."
        calls = [tc for c in chunks for tc in c["choices"][0]["delta"].get("tool_calls", [])]
        assert calls[0]["id"].startswith("toolu_") and calls[0]["function"]["arguments"] == ""
        arguments = "".join(tc["function"]["arguments"] for tc in calls)
        assert json.loads(arguments) == {"city": "Paris"}
        finish, again = chunks[-2], chunks[-1]
        assert finish["choices"] == again["choices"]
        assert finish["choices"][0]["finish_reason"] == "tool_calls"
        assert finish["choices"][0]["native_finish_reason"] == "tool_use"
        assert "usage" not in finish and "usage" in again


@pytest.mark.anyio
async def test_usage_includes_cache_in_prompt_tokens_and_cost_uses_multipliers(
    emu: Emulator, sse, long_system: str
) -> None:
    with anyio.fail_after(10):
        data = body(long_system, session_id="conversation-1")
        first = final_usage(sse((await post(emu, data)).text))
        second = final_usage(sse((await post(emu, data)).text))
        cached = math.ceil(len(long_system) / 4)
        total = cached + 1
        assert first["prompt_tokens"] == second["prompt_tokens"] == total
        assert first["prompt_tokens_details"]["cache_write_tokens"] == cached
        assert first["prompt_tokens_details"]["cached_tokens"] == 0
        assert second["prompt_tokens_details"]["cached_tokens"] == cached
        assert second["prompt_tokens_details"]["cache_write_tokens"] == 0
        out = first["completion_tokens"]
        assert first["total_tokens"] == total + out
        expected_first = (0.8 * 1 + 0.8 * 1.25 * cached + 4.0 * out) / 1e6
        expected_second = (0.8 * 1 + 0.8 * 0.1 * cached + 4.0 * out) / 1e6
        assert first["cost"] == pytest.approx(expected_first)
        assert second["cost"] == pytest.approx(expected_second)
        assert first["cost_details"]["upstream_inference_completions_cost"] == pytest.approx(
            4.0 * out / 1e6
        )


@pytest.mark.anyio
async def test_cache_write_tokens_can_be_switched_off(sse, long_system: str) -> None:
    with anyio.fail_after(10):
        async with Emulator(report_cache_writes=False) as emu:
            usage = final_usage(sse((await post(emu, body(long_system))).text))
        assert "cache_write_tokens" not in usage["prompt_tokens_details"]
        written = emu.requests[0].cache
        assert written is not None and written.write_5m_tokens > 0
        assert usage["cost"] > (0.8 * usage["prompt_tokens"]) / 1e6, "writes still billed"


@pytest.mark.anyio
async def test_without_session_id_routing_spreads_until_a_cache_hit(
    emu: Emulator, sse, long_system: str
) -> None:
    with anyio.fail_after(10):
        reads = []
        for _ in range(5):
            reads.append(
                final_usage(sse((await post(emu, body(long_system))).text))[
                    "prompt_tokens_details"
                ]["cached_tokens"]
                > 0
            )
        providers = [r.provider for r in emu.requests]
        # Round robin over two upstreams until the first hit (3rd request), then sticky.
        assert providers == ["Anthropic", "Amazon Bedrock", "Anthropic", "Anthropic", "Anthropic"]
        assert reads == [False, False, True, True, True]


@pytest.mark.anyio
async def test_session_id_sticks_from_the_first_request_and_expires(
    emu: Emulator, sse, long_system: str
) -> None:
    with anyio.fail_after(10):
        data = body(long_system, session_id="s-1")
        await post(emu, data)
        await post(emu, body(long_system), **{"x-session-id": "s-1"})
        assert [r.provider for r in emu.requests] == ["Anthropic", "Anthropic"]
        assert emu.requests[1].cache is not None and emu.requests[1].cache.read_tokens > 0
        emu.clock.advance(601)  # 10 minutes idle: stickiness (and the 5m cache) expire
        await post(emu, data)
        assert emu.requests[2].provider == "Amazon Bedrock"


@pytest.mark.anyio
async def test_provider_order_pins_and_disables_stickiness(
    emu: Emulator, sse, long_system: str
) -> None:
    with anyio.fail_after(10):
        pinned = body(long_system, session_id="s-2", provider={"order": ["amazon-bedrock"]})
        for _ in range(2):
            await post(emu, pinned)
        await post(emu, body(long_system, session_id="s-2"))
        assert [r.provider for r in emu.requests] == [
            "Amazon Bedrock",
            "Amazon Bedrock",
            "Anthropic",
        ]
        cache = [r.cache for r in emu.requests]
        assert cache[1] is not None and cache[1].read_tokens > 0
        assert cache[2] is not None and cache[2].read_tokens == 0, "another upstream's cache"
        assert [e.position for e in emu.cache_entries("openrouter", "Amazon Bedrock")] == [0]


@pytest.mark.anyio
async def test_markers_only_count_on_text_parts(emu: Emulator, long_system: str) -> None:
    with anyio.fail_after(10):
        data = {
            "model": MODEL,
            "stream": True,
            "messages": [
                {"role": "system", "content": long_system, "cache_control": {"type": "ephemeral"}},
                {"role": "user", "content": "Hi"},
            ],
        }
        for _ in range(2):
            assert (await post(emu, data)).status_code == 200
        record = emu.requests[-1]
        assert record.cache is not None and record.cache.read_tokens == 0
        assert record.ignored_markers == ("system message 0",)


@pytest.mark.anyio
async def test_anthropic_400s_come_back_as_provider_errors(emu: Emulator) -> None:
    with anyio.fail_after(10):
        parts = [
            {"type": "text", "text": f"p{i}", "cache_control": {"type": "ephemeral"}}
            for i in range(5)
        ]
        data = {"model": MODEL, "messages": [{"role": "user", "content": parts}]}
        response = await post(emu, data)
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == 400 and error["message"] == "Provider returned error"
        raw = json.loads(error["metadata"]["raw"])
        assert raw["error"]["message"] == (
            "A maximum of 4 blocks with cache_control may be provided. Found 5."
        )
        response = await post(emu, {"model": MODEL})
        assert response.status_code == 400
        assert response.json()["error"]["message"] == "messages: a non-empty array is required"


@pytest.mark.anyio
async def test_other_models_cache_implicitly_without_write_charges(
    emu: Emulator, sse, long_system: str
) -> None:
    with anyio.fail_after(10):
        data = {
            "model": "openai/gpt-4o-mini",
            "stream": True,
            "messages": [
                {"role": "system", "content": long_system},
                {"role": "user", "content": "Hi"},
            ],
        }
        first = final_usage(sse((await post(emu, data)).text))
        second = final_usage(sse((await post(emu, data)).text))
        assert first["prompt_tokens_details"]["cache_write_tokens"] == 0
        assert first["prompt_tokens_details"]["cached_tokens"] == 0
        assert second["prompt_tokens_details"]["cached_tokens"] == first["prompt_tokens"]
        assert emu.requests[0].provider == "OpenAI"
        chunks = [d for n, d in sse((await post(emu, data)).text) if n is None and d != "[DONE]"]
        assert chunks[-1]["choices"][0]["native_finish_reason"] == "stop"


@pytest.mark.anyio
async def test_reasoning_stream_carries_details_and_signature(emu: Emulator, sse) -> None:
    with anyio.fail_after(10):
        emu.add_replies(ModelReply(text="Done.", thinking="Let me think about this carefully."))
        events = sse((await post(emu, body(reasoning={"max_tokens": 1024}))).text)
        deltas = [
            d["choices"][0]["delta"]
            for n, d in events
            if n is None and d != "[DONE]" and d["choices"]
        ]
        reasoning = "".join(d.get("reasoning") or "" for d in deltas)
        assert reasoning == "Let me think about this carefully."
        details = [x for d in deltas for x in d.get("reasoning_details", [])]
        assert all(x["format"] == "anthropic-claude-v1" and x["index"] == 0 for x in details)
        assert details[-1]["signature"] and "text" not in details[-1]
        usage = final_usage(events)
        assert usage["completion_tokens_details"]["reasoning_tokens"] == math.ceil(34 / 4)


@pytest.mark.anyio
async def test_tool_loop_messages_are_understood(emu: Emulator, sse) -> None:
    with anyio.fail_after(10):
        tools = [
            {
                "type": "function",
                "function": {
                    "name": "add",
                    "description": "Add two numbers",
                    "parameters": {
                        "type": "object",
                        "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                    },
                },
            }
        ]
        first = {
            "model": MODEL,
            "stream": False,
            "tools": tools,
            "messages": [{"role": "user", "content": "Please add 2 and 40"}],
        }
        reply = (await post(emu, first)).json()
        call = reply["choices"][0]["message"]["tool_calls"][0]
        assert reply["choices"][0]["finish_reason"] == "tool_calls"
        assert json.loads(call["function"]["arguments"]) == {"a": 2, "b": 40}
        second = first | {
            "messages": [
                *first["messages"],
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": call["id"], "content": "42"},
            ]
        }
        answer = (await post(emu, second)).json()["choices"][0]["message"]["content"]
        assert "add: 42" in answer


def tool_turn(system: str, result_marked: bool) -> list[dict[str, Any]]:
    """A system prompt, a question, a tool call, and its result (optionally marked)."""
    result: dict[str, Any] = {"type": "text", "text": "sunny, 24 degrees"}
    if result_marked:
        result["cache_control"] = {"type": "ephemeral"}
    return [
        {
            "role": "system",
            "content": [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}],
        },
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "toolu_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": [result]},
    ]


@pytest.mark.anyio
async def test_a_marker_on_a_tool_message_part_is_a_breakpoint_and_not_part_of_the_hash(
    emu: Emulator, sse, long_system: str
) -> None:
    with anyio.fail_after(10):
        emu.add_replies(ModelReply(text="Sunny."), ModelReply(text="Still sunny."))
        first = {
            "model": MODEL,
            "stream": True,
            "session_id": "s",
            "messages": tool_turn(long_system, result_marked=True),
        }
        usage = final_usage(sse((await post(emu, first)).text))
        written = usage["prompt_tokens_details"]["cache_write_tokens"]
        assert written == usage["prompt_tokens"], "the marked tool result ends the cached prefix"
        # Next request: the marker has moved on to a new user message; the tool
        # result's bytes without its marker must still hash the same.
        messages = [
            *tool_turn(long_system, result_marked=False),
            {"role": "assistant", "content": [{"type": "text", "text": "Sunny."}]},
            {
                "role": "user",
                "content": [
                    {
                        "type": "text",
                        "text": "And tomorrow?",
                        "cache_control": {"type": "ephemeral"},
                    }
                ],
            },
        ]
        second = {"model": MODEL, "stream": True, "session_id": "s", "messages": messages}
        usage = final_usage(sse((await post(emu, second)).text))
        assert usage["prompt_tokens_details"]["cached_tokens"] == written


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "wording"),
    [
        (MODEL, "`tool_use` ids were found without `tool_result` blocks immediately after"),
        ("openai/gpt-4o-mini", "The following tool_call_ids did not have response messages"),
    ],
)
async def test_a_tool_call_without_its_result_is_rejected(
    emu: Emulator, model: str, wording: str
) -> None:
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "user", "content": [{"type": "text", "text": "Never mind."}]},
    ]
    with anyio.fail_after(10):
        response = await post(emu, {"model": model, "stream": True, "messages": messages})
    assert response.status_code == 400
    assert wording in json.dumps(response.json())
    assert "call_1" in json.dumps(response.json())

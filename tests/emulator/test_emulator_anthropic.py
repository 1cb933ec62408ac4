"""The Anthropic front-end over real loopback HTTP: stream shape, usage, caching, 400s."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from agentkit.testing.emulator import Emulator, ModelReply, ToolUse

MODEL = "claude-3-5-haiku"  # minimum cacheable prefix: 2,048 tokens
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "recorded"


def body(system: Any = "", messages: Any = None, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 256,
        "stream": True,
        "messages": messages or [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
    }
    if system:
        data["system"] = system
    return data | extra


def cached_system(text: str, ttl: str | None = None) -> list[dict[str, Any]]:
    marker = {"type": "ephemeral"} | ({"ttl": ttl} if ttl else {})
    return [{"type": "text", "text": text, "cache_control": marker}]


async def post(emu: Emulator, data: dict[str, Any], **headers: str) -> httpx.Response:
    # verify=False: plain http on loopback, and it skips loading a CA bundle per client.
    async with httpx.AsyncClient(
        base_url=emu.anthropic_base_url, timeout=5, verify=False
    ) as client:
        return await client.post("/v1/messages", json=data, headers=headers)


def usage_of(events: list[tuple[str | None, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    start = next(d for n, d in events if n == "message_start")["message"]["usage"]
    delta = next(d for n, d in events if n == "message_delta")["usage"]
    return start, delta


@pytest.mark.anyio
async def test_text_stream_has_the_documented_event_sequence(emu: Emulator, sse) -> None:
    with anyio.fail_after(10):
        emu.add_replies(ModelReply(text="Hello there, how are you today?"))
        response = await post(emu, body(), **{"x-api-key": "sk-secret"})
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert response.headers["request-id"].startswith("req_")
        events = sse(response.text)
        names = [n for n, _ in events]
        assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
        assert names[1:3] == ["content_block_start", "ping"]
        for name, data in events:
            assert data["type"] == name
        text = "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta")
        assert text == "Hello there, how are you today?"
        assert sum(n == "content_block_delta" for n in names) > 1
        assert any(b"     }" in line for line in response.content.split(b"\n")), "padded JSON"
        assert "x-api-key" not in emu.requests[-1].headers
        stop = next(d for n, d in events if n == "message_delta")
        assert stop["delta"]["stop_reason"] == "end_turn"


@pytest.mark.anyio
async def test_thinking_and_tool_call_blocks(emu: Emulator, sse) -> None:
    with anyio.fail_after(10):
        emu.add_replies(
            ModelReply(
                text="Checking.",
                thinking="Think first.",
                tool_calls=[ToolUse("get_weather", {"city": "Paris", "days": 3})],
            )
        )
        events = sse((await post(emu, body())).text)
        starts = [d["content_block"] for n, d in events if n == "content_block_start"]
        assert [b["type"] for b in starts] == ["thinking", "text", "tool_use"]
        assert starts[2]["name"] == "get_weather" and starts[2]["id"].startswith("toolu_")
        deltas = [d["delta"] for n, d in events if n == "content_block_delta"]
        kinds = [d["type"] for d in deltas]
        assert kinds.index("signature_delta") == kinds.index("text_delta") - 1
        partial = [d["partial_json"] for d in deltas if d["type"] == "input_json_delta"]
        assert partial[0] == "" and len(partial) > 2
        assert json.loads("".join(partial)) == {"city": "Paris", "days": 3}
        assert next(d for n, d in events if n == "message_delta")["delta"]["stop_reason"] == (
            "tool_use"
        )


@pytest.mark.anyio
async def test_write_then_read_with_anthropic_usage_convention(
    emu: Emulator, sse, long_system: str
) -> None:
    with anyio.fail_after(10):
        data = body(cached_system(long_system))
        first_start, first_delta = usage_of(sse((await post(emu, data)).text))
        second_start, second_delta = usage_of(sse((await post(emu, data)).text))
        written = math.ceil(len(long_system) / 4)
        assert first_start["cache_creation_input_tokens"] == written
        assert first_start["cache_creation"] == {
            "ephemeral_5m_input_tokens": written,
            "ephemeral_1h_input_tokens": 0,
        }
        assert first_start["cache_read_input_tokens"] == 0
        assert second_start["cache_read_input_tokens"] == written
        assert second_start["cache_creation_input_tokens"] == 0
        # input_tokens excludes the cache: only the uncached user turn remains.
        assert first_start["input_tokens"] == second_start["input_tokens"] == 1
        for start, delta in ((first_start, first_delta), (second_start, second_delta)):
            for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"):
                assert delta[key] == start[key]
            assert delta["output_tokens"] >= start["output_tokens"]
        records = emu.requests
        assert records[0].cache is not None and records[0].cache.written_positions == (0,)
        assert records[1].cache is not None and records[1].cache.hit_position == 0
        assert [e.position for e in emu.cache_entries()] == [0]


@pytest.mark.anyio
async def test_no_caching_below_the_model_minimum(emu: Emulator, sse, short_system: str) -> None:
    with anyio.fail_after(10):
        data = body(cached_system(short_system))
        for _ in range(2):
            start, _ = usage_of(sse((await post(emu, data)).text))
            assert start["cache_creation_input_tokens"] == 0
            assert start["cache_read_input_tokens"] == 0
            assert start["input_tokens"] == math.ceil(len(short_system) / 4) + 1
        assert emu.requests[-1].cache is not None and emu.requests[-1].cache.min_tokens == 2048


@pytest.mark.anyio
async def test_ttl_expiry_and_refresh_follow_the_clock(
    emu: Emulator, sse, long_system: str
) -> None:
    with anyio.fail_after(10):
        data = body(cached_system(long_system))
        await post(emu, data)
        reads = []
        for step in (299, 299, 301):
            emu.clock.advance(step)
            start, _ = usage_of(sse((await post(emu, data)).text))
            reads.append(
                (start["cache_read_input_tokens"] > 0, start["cache_creation_input_tokens"] > 0)
            )
        # read at 299 s refreshes; read at 598 s still hits; 301 s idle expires the entry.
        assert reads == [(True, False), (True, False), (False, True)]


@pytest.mark.anyio
async def test_one_hour_ttl_and_mixed_billing(emu: Emulator, sse, long_system: str) -> None:
    with anyio.fail_after(10):
        messages = [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "x" * 400, "cache_control": {"type": "ephemeral"}}
                ],
            }
        ]
        data = body(cached_system(long_system, "1h"), messages)
        start, _ = usage_of(sse((await post(emu, data)).text))
        assert start["cache_creation"] == {
            "ephemeral_5m_input_tokens": 100,
            "ephemeral_1h_input_tokens": 2450,
        }
        emu.clock.advance(1800)
        start, _ = usage_of(sse((await post(emu, data)).text))
        assert start["cache_read_input_tokens"] == 2450
        assert start["cache_creation"]["ephemeral_5m_input_tokens"] == 100


async def error_of(emu: Emulator, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = await post(emu, data)
    return response.status_code, response.json()


@pytest.mark.anyio
async def test_more_than_four_breakpoints_is_a_400(emu: Emulator) -> None:
    with anyio.fail_after(10):
        marked = {"type": "ephemeral"}
        system = [{"type": "text", "text": f"part {i}", "cache_control": marked} for i in range(5)]
        status, error = await error_of(emu, body(system))
        assert status == 400
        assert error["type"] == "error"
        assert error["error"] == {
            "type": "invalid_request_error",
            "message": "A maximum of 4 blocks with cache_control may be provided. Found 5.",
        }
        assert error["request_id"].startswith("req_")
        # The automatic breakpoint takes a slot too.
        status, error = await error_of(emu, body(system[:4], cache_control=marked))
        assert status == 400 and error["error"]["message"].endswith("Found 5.")


@pytest.mark.anyio
async def test_one_hour_marker_after_five_minute_marker_is_a_400(emu: Emulator) -> None:
    with anyio.fail_after(10):
        messages = [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "a"},
                    {
                        "type": "text",
                        "text": "b",
                        "cache_control": {"type": "ephemeral", "ttl": "1h"},
                    },
                ],
            }
        ]
        status, error = await error_of(emu, body(cached_system("sys"), messages))
        assert status == 400
        assert error["error"]["message"] == (
            "messages.0.content.1.cache_control.ttl: a ttl='1h' cache_control block must not come "
            "after a ttl='5m' cache_control block. Note that blocks are processed in the following "
            "order: `tools`, `system`, `messages`."
        )


@pytest.mark.anyio
async def test_markers_on_thinking_and_empty_text_are_400s(emu: Emulator) -> None:
    with anyio.fail_after(10):
        marker = {"type": "ephemeral"}
        thinking = [
            {"role": "user", "content": "Hi"},
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "thinking",
                        "thinking": "hmm",
                        "signature": "s",
                        "cache_control": marker,
                    },
                    {"type": "text", "text": "Hello"},
                ],
            },
            {"role": "user", "content": "Again"},
        ]
        status, error = await error_of(emu, body(messages=thinking))
        assert status == 400
        assert error["error"]["message"] == (
            "messages.1.content.0.thinking.cache_control: Extra inputs are not permitted"
        )
        empty = [
            {"role": "user", "content": [{"type": "text", "text": "", "cache_control": marker}]}
        ]
        status, error = await error_of(emu, body(messages=empty))
        assert status == 400
        assert error["error"]["message"] == (
            "messages.0.content.0.text: cache_control cannot be set for empty text blocks"
        )
        assert [r.status for r in emu.requests] == [400, 400]


@pytest.mark.anyio
async def test_automatic_caching_skips_thinking_and_moves_with_the_conversation(
    emu: Emulator, sse, long_system: str
) -> None:
    with anyio.fail_after(10):
        turn1 = [{"role": "user", "content": [{"type": "text", "text": "first question"}]}]
        auto = {"cache_control": {"type": "ephemeral"}}
        await post(emu, body(long_system, turn1, **auto))
        turn2 = [
            *turn1,
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "t", "signature": "s"},
                    {"type": "text", "text": "answer"},
                ],
            },
            {"role": "user", "content": [{"type": "text", "text": "second question"}]},
        ]
        start, _ = usage_of(sse((await post(emu, body(long_system, turn2, **auto))).text))
        first = emu.requests[0].cache
        assert first is not None and first.written_positions == (1,)
        assert start["cache_read_input_tokens"] == first.write_5m_tokens
        assert start["input_tokens"] == 0
        second = emu.requests[1].cache
        assert second is not None and second.breakpoint_positions == (4,)


@pytest.mark.anyio
async def test_parallel_tool_calls_count_as_one_position(emu: Emulator) -> None:
    with anyio.fail_after(10):
        calls = [{"type": "tool_use", "id": f"t{i}", "name": "f", "input": {}} for i in range(30)]
        results = [
            {"type": "tool_result", "tool_use_id": f"t{i}", "content": "ok"} for i in range(30)
        ]
        messages = [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": calls},
            {"role": "user", "content": results},
        ]
        response = await post(emu, body(messages=messages))
        assert response.status_code == 200
        report = emu.requests[-1].cache
        assert report is not None and report.position_count == 3


@pytest.mark.anyio
async def test_non_streaming_and_max_tokens_zero_prewarm(emu: Emulator, long_system: str) -> None:
    with anyio.fail_after(10):
        emu.add_replies(ModelReply(text="Answer."))
        warm = await post(emu, body(cached_system(long_system), max_tokens=0, stream=False))
        message = warm.json()
        assert message["content"] == [] and message["stop_reason"] == "max_tokens"
        assert message["usage"]["cache_creation_input_tokens"] > 0
        assert message["usage"]["output_tokens"] == 0
        real = (await post(emu, body(cached_system(long_system), stream=False))).json()
        assert real["content"] == [{"type": "text", "text": "Answer."}], "pre-warm kept the reply"
        assert (
            real["usage"]["cache_read_input_tokens"]
            == (message["usage"]["cache_creation_input_tokens"])
        )


@pytest.mark.anyio
async def test_invalid_requests_get_clear_400s(emu: Emulator) -> None:
    with anyio.fail_after(10):
        status, error = await error_of(emu, {"model": MODEL, "messages": []})
        assert status == 400 and error["error"]["message"] == "max_tokens: Field required"
        response = await post(emu, body(system=cached_system("x", ttl="2h")))
        assert response.json()["error"]["message"] == (
            "system.0.cache_control.ttl: Input should be '5m' or '1h'"
        )


@pytest.mark.anyio
async def test_entries_appear_only_once_a_response_starts(
    emu: Emulator, sse, long_system: str
) -> None:
    with anyio.fail_after(10):
        data = body(cached_system(long_system))
        usages: dict[str, dict[str, Any]] = {}

        async def call(name: str, **headers: str) -> None:
            usages[name] = usage_of(sse((await post(emu, data, **headers)).text))[0]

        async with anyio.create_task_group() as tg:
            tg.start_soon(
                lambda: call(
                    "slow", **{"x-emulator-fault": "stall;seconds=0.8;before_headers=true"}
                )
            )
            await anyio.sleep(0.1)
            tg.start_soon(call, "fast")
        await call("after")
        # Fan-out before the first response starts: both pay the write (§1.3).
        assert usages["slow"]["cache_creation_input_tokens"] > 0
        assert usages["fast"]["cache_creation_input_tokens"] > 0
        assert usages["after"]["cache_read_input_tokens"] > 0


@pytest.mark.anyio
async def test_a_tool_call_without_its_result_next_is_rejected_as_the_api_does(
    emu: Emulator,
) -> None:
    recorded = json.loads(
        (FIXTURES / "anthropic_messages_400_tool_result_ordering.json").read_text()
    )
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {}}],
        },
        {"role": "user", "content": [{"type": "text", "text": "Never mind."}]},
    ]
    with anyio.fail_after(10):
        response = await post(emu, body(messages=messages))
    assert response.status_code == 400
    error = response.json()
    assert error["error"] == recorded["error"]
    assert error["request_id"].startswith("req_")

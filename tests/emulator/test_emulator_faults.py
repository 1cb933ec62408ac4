"""Fault injection, chosen by header or queued on the emulator, over loopback HTTP."""

from __future__ import annotations

import json
import time
from typing import Any

import anyio
import httpx
import pytest

from agentkit.testing.emulator import (
    DripFault,
    DropFault,
    Emulator,
    FaultError,
    MalformedFault,
    ModelReply,
    StallFault,
    StatusFault,
    StreamErrorFault,
    parse_fault,
)

ANTHROPIC = {
    "model": "claude-3-5-haiku",
    "max_tokens": 100,
    "stream": True,
    "messages": [{"role": "user", "content": "Hi"}],
}
OPENROUTER = {
    "model": "anthropic/claude-3.5-haiku",
    "stream": True,
    "messages": [{"role": "user", "content": "Hi"}],
}


def client(emu: Emulator, **options: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=emu.base_url, verify=False, **({"timeout": 5} | options))


async def anthropic(emu: Emulator, fault: str | None = None, **options: Any) -> httpx.Response:
    headers = {"x-emulator-fault": fault} if fault else {}
    async with client(emu, **options) as c:
        return await c.post("/v1/messages", json=ANTHROPIC, headers=headers)


async def openrouter(emu: Emulator, fault: str | None = None) -> httpx.Response:
    headers = {"x-emulator-fault": fault} if fault else {}
    async with client(emu) as c:
        return await c.post("/api/v1/chat/completions", json=OPENROUTER, headers=headers)


def test_fault_header_grammar() -> None:
    assert parse_fault("status=429;retry_after=2") == StatusFault(429, 2.0)
    assert parse_fault("status=503") == StatusFault(503, None)
    assert parse_fault("stream_error;after=3;code=429") == StreamErrorFault(3, 429)
    assert parse_fault("drop;after_bytes=200") == DropFault(200)
    assert parse_fault("stall;seconds=0.5;after=2") == StallFault(0.5, 2)
    assert parse_fault("stall;before_headers=1") == StallFault(3600.0, 0, before_headers=True)
    assert parse_fault("malformed;after=4") == MalformedFault(4)
    assert parse_fault("drip;chunk=5;delay=0") == DripFault(5, 0.0)
    for bad, message in [
        ("", "empty"),
        ("explode", "unknown fault 'explode'"),
        ("status=abc", "not a number"),
        ("drop;after_bytes=-1", "not a count"),
        ("stall;bogus=1", "unknown parameter"),
        ("drip;chunk=0", "at least 1"),
        ("stall;seconds", "not key=value"),
    ]:
        with pytest.raises(FaultError, match=message):
            parse_fault(bad)


@pytest.mark.anyio
async def test_status_with_retry_after_in_each_api_shape(emu: Emulator) -> None:
    with anyio.fail_after(10):
        response = await anthropic(emu, "status=429;retry_after=2")
        assert response.status_code == 429 and response.headers["retry-after"] == "2"
        error = response.json()
        assert error["type"] == "error" and error["error"]["type"] == "rate_limit_error"
        assert error["request_id"] == response.headers["request-id"]
        emu.inject(StatusFault(529))
        assert (await anthropic(emu)).json()["error"] == {
            "type": "overloaded_error",
            "message": "Overloaded",
        }
        response = await openrouter(emu, "status=429;retry_after=1.5")
        assert response.status_code == 429 and response.headers["retry-after"] == "1.5"
        assert response.json() == {
            "error": {
                "code": 429,
                "message": "Rate limit exceeded",
                "metadata": {"error_type": "rate_limit_exceeded"},
            }
        }
        assert (await anthropic(emu)).status_code == 200, "an injected fault is used once"
        assert [r.status for r in emu.requests] == [429, 529, 429, 200]
        assert emu.requests[1].fault == StatusFault(529)


@pytest.mark.anyio
async def test_queued_faults_can_target_one_api(emu: Emulator) -> None:
    with anyio.fail_after(10):
        emu.inject(StatusFault(503), api="openrouter", times=2)
        assert (await anthropic(emu)).status_code == 200
        assert (await openrouter(emu)).status_code == 503
        assert (await openrouter(emu)).status_code == 503
        assert (await openrouter(emu)).status_code == 200


@pytest.mark.anyio
async def test_midstream_errors(emu: Emulator, sse) -> None:
    with anyio.fail_after(10):
        events = sse((await anthropic(emu, "stream_error;after=3")).text)
        assert len(events) == 4
        assert events[-1] == (
            "error",
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        )
        events = sse((await openrouter(emu, "stream_error;after=3;code=502")).text)
        last = events[-1][1]
        assert last["error"]["code"] == 502
        assert last["choices"][0]["finish_reason"] == "error"
        assert all(d != "[DONE]" for _, d in events)
        assert emu.requests[-1].status == 200, "the error came after 200 OK"


@pytest.mark.anyio
async def test_dropped_connection_after_n_bytes(emu: Emulator) -> None:
    with anyio.fail_after(10):
        received = b""
        async with client(emu) as c:
            with pytest.raises(httpx.RemoteProtocolError):
                async with c.stream(
                    "POST",
                    "/v1/messages",
                    json=ANTHROPIC,
                    headers={"x-emulator-fault": "drop;after_bytes=57"},
                ) as r:
                    async for chunk in r.aiter_raw():
                        received += chunk
        assert len(received) == 57
        assert received.startswith(b"event: message_start\ndata: {")


@pytest.mark.anyio
async def test_stall_trips_a_read_timeout(emu: Emulator) -> None:
    with anyio.fail_after(10):
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            await anthropic(emu, "stall;seconds=30;after=1", timeout=httpx.Timeout(5, read=0.3))
        assert time.monotonic() - started < 3
        stalled = await anthropic(emu, "stall;seconds=0.2;after=2")
        assert stalled.status_code == 200
        assert stalled.text.rstrip().endswith("}")
        assert '"type":"message_stop"' in stalled.text.split("\n\n")[-2]


@pytest.mark.anyio
async def test_malformed_json_frame(emu: Emulator) -> None:
    with anyio.fail_after(10):
        text = (await openrouter(emu, "malformed;after=3")).text
        frames = [f for f in text.split("\n\n") if f.startswith("data: ")]
        with pytest.raises(json.JSONDecodeError):
            json.loads(frames[-1][6:])
        json.loads(frames[0][6:])


@pytest.mark.anyio
async def test_slow_drip_of_tiny_chunks(emu: Emulator) -> None:
    with anyio.fail_after(10):
        emu.add_replies(ModelReply(text="same text"), ModelReply(text="same text"))
        normal = await anthropic(emu)
        chunks: list[bytes] = []
        async with (
            client(emu) as c,
            c.stream(
                "POST",
                "/v1/messages",
                json=ANTHROPIC,
                headers={"x-emulator-fault": "drip;chunk=7;delay=0"},
            ) as r,
        ):
            async for chunk in r.aiter_raw():
                chunks.append(chunk)
        body = b"".join(chunks)
        assert body.replace(b"msg_emu00000002", b"msg_emu00000001") == normal.content
        assert len(chunks) > 20 and max(len(c) for c in chunks) < 400


@pytest.mark.anyio
async def test_bad_fault_header_is_a_clear_400(emu: Emulator) -> None:
    with anyio.fail_after(10):
        response = await anthropic(emu, "explode")
        assert response.status_code == 400
        assert "unknown fault 'explode'" in response.json()["error"]["message"]

"""Sending a response over ASGI, shaped by a fault: dropped, stalled or dripped.

This runs in uvicorn's asyncio loop, so it uses asyncio directly.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from attrs import define

from agentkit.testing.emulator._faults import (
    DripFault,
    DropFault,
    Fault,
    KeepAliveFault,
    StallFault,
)

__all__ = ["Receive", "Response", "Send", "deliver", "send_whole"]

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@define(frozen=True, slots=True)
class Response:
    """A response ready to send: status, headers and body frames (SSE frames or one JSON body)."""

    status: int
    headers: Mapping[str, str]
    frames: tuple[bytes, ...]
    stream: bool
    keepalive: bytes = b""  # the API's keep-alive frame, for a KeepAliveFault


def _start(status: int, headers: Mapping[str, str]) -> Message:
    return {
        "type": "http.response.start",
        "status": status,
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }


def _body(data: bytes, *, more: bool) -> Message:
    return {"type": "http.response.body", "body": data, "more_body": more}


async def send_whole(send: Send, status: int, headers: Mapping[str, str], body: bytes) -> None:
    """Send a complete response in one piece."""
    await send(_start(status, headers))
    await send(_body(body, more=False))


async def _watch_disconnect(receive: Receive, flag: asyncio.Event) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            flag.set()
            return


async def _stall(seconds: float, stopping: threading.Event, disconnected: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    # Polling: the stop flag is a threading.Event set from the test's thread.
    while (  # noqa: ASYNC110
        loop.time() < deadline and not stopping.is_set() and not disconnected.is_set()
    ):
        await asyncio.sleep(min(0.01, max(0.0, deadline - loop.time())))


async def deliver(
    response: Response,
    fault: Fault | None,
    *,
    on_start: Callable[[], Awaitable[None]],
    receive: Receive,
    send: Send,
    stopping: threading.Event,
    frame_delay: float = 0.0,
) -> int | None:
    """Send ``response``; ``on_start`` runs just before the status line goes out.

    A stall ends early at shutdown (``stopping``) or when the client disconnects.
    Returns how many frames had gone out when the client left before the end
    (what the service bills it for), or None.
    """
    stall = fault if isinstance(fault, StallFault) else None
    frames = response.frames
    disconnected = asyncio.Event()
    watcher = asyncio.create_task(_watch_disconnect(receive, disconnected))
    try:
        if stall is not None and stall.before_headers:
            await _stall(stall.seconds, stopping, disconnected)
        await on_start()
        await send(_start(response.status, response.headers))
        if isinstance(fault, DropFault):
            data = b"".join(frames)[: fault.after_bytes]
            if data:
                await send(_body(data, more=True))
            return None  # returning with the body unfinished makes uvicorn close the connection
        if isinstance(fault, KeepAliveFault):
            for frame in frames[: fault.after]:
                await send(_body(frame, more=True))
            loop = asyncio.get_running_loop()
            # Polling: the stop flag is a threading.Event set from the test's thread.
            while not stopping.is_set() and not disconnected.is_set():
                await send(_body(response.keepalive, more=True))
                next_at = loop.time() + fault.interval
                while loop.time() < next_at and not (stopping.is_set() or disconnected.is_set()):  # noqa: ASYNC110
                    await asyncio.sleep(min(0.01, fault.interval))
            return None
        if isinstance(fault, DripFault):
            data = b"".join(frames)
            for i in range(0, len(data), fault.chunk):
                if disconnected.is_set() or stopping.is_set():
                    break
                await send(_body(data[i : i + fault.chunk], more=True))
                await asyncio.sleep(fault.delay)
        else:
            stall_at = stall.after if stall is not None and not stall.before_headers else None
            for n, frame in enumerate(frames):
                if stall is not None and n == stall_at:
                    await _stall(stall.seconds, stopping, disconnected)
                if disconnected.is_set():
                    return n
                await send(_body(frame, more=True))
                if frame_delay:
                    await asyncio.sleep(frame_delay)
            if stall is not None and stall_at is not None and stall_at >= len(frames):
                await _stall(stall.seconds, stopping, disconnected)
        await send(_body(b"", more=False))
    finally:
        watcher.cancel()
    return None

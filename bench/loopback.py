"""A minimal HTTP/1.1 server on loopback that answers every request with one fixed SSE body.

Trimmed from ``tests/providers/loopback_server.py``: the body is sent in
writes of 4 to 16 KiB (a fixed cycle of sizes, one chunk of chunked transfer
encoding each), as real services send it, rather than in large blocks that
would hand each reader few, big reads. The cycle is the same for every reader.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from anyio.abc import SocketAttribute, SocketStream

__all__ = ["WRITES", "read_request", "serve", "split"]

#: The sizes of successive server writes, in bytes, cycled through the body.
WRITES = (4_096, 9_216, 16_384, 6_144, 12_288)


async def read_request(stream: SocketStream) -> bytes:
    """Read one HTTP/1.1 request from ``stream``; return its body."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += await stream.receive()
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += await stream.receive()
    return body


def split(body: bytes) -> list[bytes]:
    """``body`` cut into consecutive writes of the sizes in ``WRITES``, cycled."""
    chunks, start = [], 0
    for size in itertools.cycle(WRITES):
        if start >= len(body):
            return chunks
        chunks.append(body[start : start + size])
        start += size
    raise AssertionError("unreachable")


@asynccontextmanager
async def serve(body: bytes) -> AsyncIterator[str]:
    """Serves ``body`` as ``text/event-stream`` to every request; yields the base URL."""
    chunks = split(body)

    async def handle(stream: SocketStream) -> None:
        try:
            async with stream:
                while True:  # keep-alive: one response per request on the connection
                    await read_request(stream)
                    await stream.send(
                        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                        b"transfer-encoding: chunked\r\n\r\n"
                    )
                    for chunk in chunks:
                        await stream.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    await stream.send(b"0\r\n\r\n")
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, handle)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            group.cancel_scope.cancel()

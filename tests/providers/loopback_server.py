"""A tiny HTTP/1.1 server on loopback (anyio, so asyncio and trio) that streams scripts.

Each response is sent with chunked transfer encoding, one HTTP chunk per
script step, and the server notices when the client closes the connection.
A step is bytes to send, a float to sleep, or an ``anyio.Event`` to wait for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
from anyio.abc import SocketStream

from bench.loopback import read_request

Step = bytes | float | anyio.Event


class LoopbackServer:
    """Serves ``script`` to every request; counts connections open and closed."""

    def __init__(
        self,
        script: Sequence[Step],
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.script = list(script)
        self.status = status
        self.headers = {"content-type": "text/event-stream", **(headers or {})}
        self.port = 0
        self.open_connections = 0
        self.requests: list[bytes] = []
        self.closed = anyio.Event()  # set when a client closes a connection
        self.finished_script = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _send_script(self, stream: SocketStream) -> None:
        reason = b"OK" if self.status == 200 else b"Error"
        head = "".join(f"{name}: {value}\r\n" for name, value in self.headers.items())
        await stream.send(
            b"HTTP/1.1 %d %s\r\n%stransfer-encoding: chunked\r\n\r\n"
            % (self.status, reason, head.encode())
        )
        for step in self.script:
            if isinstance(step, bytes):
                await stream.send(b"%x\r\n%s\r\n" % (len(step), step))
            elif isinstance(step, float):
                await anyio.sleep(step)
            else:
                await step.wait()
        await stream.send(b"0\r\n\r\n")
        self.finished_script = True

    async def _handle(self, stream: SocketStream) -> None:
        self.open_connections += 1
        try:
            async with stream:
                self.requests.append(await read_request(stream))
                async with anyio.create_task_group() as group:

                    async def watch() -> None:
                        try:
                            while await stream.receive():
                                pass
                        except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                            pass
                        group.cancel_scope.cancel()

                    group.start_soon(watch)
                    try:
                        await self._send_script(stream)
                    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                        group.cancel_scope.cancel()
        except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
            pass
        finally:
            self.open_connections -= 1
            self.closed.set()


@asynccontextmanager
async def serve(script: Sequence[Step], **kwargs: Any) -> AsyncIterator[LoopbackServer]:
    server = LoopbackServer(script, **kwargs)
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    server.port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, server._handle)
        try:
            yield server
        finally:
            group.cancel_scope.cancel()

"""Helpers for the MCP tests: servers to talk to, and leak checks."""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from agentkit import ToolCall, ToolContext, ToolResult
from agentkit.mcp import MCPServer

HERE = Path(__file__).resolve().parent
API_KEY = "sk-ant-test-SENTINEL-mcp"


def children() -> dict[int, str]:
    """This process's child processes (zombies too), with their command lines."""
    me, found = os.getpid(), {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == me:
            found[int(entry)] = cmdline.decode(errors="replace")
    return found


def open_fds() -> set[str]:
    """What this process's file descriptors point at (pipes, sockets, files)."""
    out = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            out.add(f"{fd}->{os.readlink(f'/proc/self/fd/{fd}')}")
        except OSError:
            continue
    return out


class Leaks:
    """Children and descriptors at the start; :meth:`check` says what is left over."""

    def __init__(self) -> None:
        self.children = set(children())
        self.fds = open_fds()

    def check(self) -> None:
        assert set(children()) - self.children == set(), "a server process was left behind"
        leaked = sorted(f for f in open_fds() - self.fds if "pipe" in f or "socket" in f)
        assert leaked == [], "a pipe or socket was left open"


async def wait_exit(pid: int) -> None:
    """Return once the process has exited (a pidfd becomes readable): no polling."""
    fd = os.pidfd_open(pid)
    try:
        await anyio.wait_readable(fd)
    finally:
        os.close(fd)


@contextmanager
def tools_changed() -> Iterator[anyio.Event]:
    """An event set when a server has re-listed its tools after a change notification.

    It listens for the library's own ``mcp.tools_changed`` log record, emitted on
    the event loop's thread right after the new list is in place.
    """
    event = anyio.Event()

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "mcp.tools_changed" in record.getMessage():
                event.set()

    logger = logging.getLogger("agentkit.mcp")
    handler, level = Handler(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield event
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def context() -> ToolContext:
    async def report(progress: str) -> None:
        return None

    return ToolContext(ToolCall("call-1", "x", {}), reporter=report)


async def call(server: MCPServer, name: str, **arguments: Any) -> ToolResult:
    """Call one of the server's tools as the loop would: validated, then executed."""
    tool = {t.name: t for t in server.tools}[name]
    assert tool.validate(arguments) is None
    return await tool.execute(arguments, context())


def fault_server(folder: Path, *faults: str, **options: Any) -> MCPServer:
    args = [str(HERE / "fault_server.py"), str(folder)]
    for spec in faults:
        args += ["--fault", spec]
    options.setdefault("name", "faulty")
    return MCPServer.stdio(sys.executable, args, **options)


def pids(folder: Path) -> list[int]:
    path = folder / "pids"
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def time_server(**options: Any) -> MCPServer:
    options.setdefault("name", "time")
    args = ["-m", "mcp_server_time", "--local-timezone", "UTC"]
    return MCPServer.stdio(sys.executable, args, **options)


# --------------------------------------------------------------------------- HTTP


class HTTPServer:
    """An SDK-written server (``sdk_server.build``) under uvicorn on loopback, in a thread."""

    def __init__(self, port: int = 0) -> None:
        import uvicorn

        # A factory: the app (and the SDK's anyio primitives) is made in uvicorn's
        # thread, on its asyncio loop, whatever backend the test runs on.
        config = uvicorn.Config(
            "tests.test_mcp.sdk_server:app",
            factory=True,
            host="127.0.0.1",
            port=port,
            log_level="critical",
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> HTTPServer:
        self.thread.start()
        started = threading.Event()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            started.wait(0.01)
        return self

    @property
    def port(self) -> int:
        return int(self.server.servers[0].sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def stop(self) -> None:
        # Abrupt, like a crash: open streams (a change subscription) are not waited for.
        self.server.should_exit = self.server.force_exit = True
        self.thread.join(10)
        assert not self.thread.is_alive()


@pytest.fixture
def http_server() -> Iterator[HTTPServer]:
    server = HTTPServer().start()
    try:
        yield server
    finally:
        server.stop()

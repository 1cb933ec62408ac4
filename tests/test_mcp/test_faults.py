"""The server crashes, stalls and restarts at every phase: typed errors, error results,
reconnects, and never a hung task, a leaked process or a leaked pipe."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from agentkit.mcp import MCPConnectionError, MCPError, MCPServer
from tests.test_mcp.conftest import Leaks, call, children, fault_server, pids

pytestmark = pytest.mark.anyio


def sent(server: MCPServer) -> str:
    """The tool definitions as a provider would serialise them (keys in stored order)."""
    return json.dumps([(t.name, t.description, t.definition.parameters) for t in server.tools])


QUICK = {"connect_timeout": 0.5, "call_timeout": 0.5, "request_timeout": 0.5}


@pytest.mark.parametrize("phase", ["initialize", "list"])
@pytest.mark.parametrize("kind", ["crash", "stall"])
async def test_a_fault_while_opening_fails_the_open_with_a_typed_error(
    tmp_path: Path, phase: str, kind: str
) -> None:
    leaks = Leaks()
    with anyio.fail_after(15):
        server = fault_server(tmp_path, f"{phase}:{kind}", **QUICK)
        with pytest.raises(MCPConnectionError, match="MCP server 'faulty'") as raised:
            async with server:
                pytest.fail("opened")
        if kind == "stall":
            assert "within 0.5 s" in str(raised.value)
        with pytest.raises(MCPError, match="is not open"):
            _ = server.tools
        # The next process (start 2) behaves: a new server object opens.
        async with fault_server(tmp_path, f"{phase}:{kind}", **QUICK) as again:
            assert (await call(again, "echo", text="hi")).text == "hi"
    leaks.check()
    assert len(pids(tmp_path)) == 2


@pytest.mark.parametrize("kind", ["crash", "stall"])
async def test_a_fault_during_a_call_is_an_error_result_and_the_next_call_works(
    tmp_path: Path, kind: str
) -> None:
    leaks = Leaks()
    with anyio.fail_after(15):
        async with fault_server(tmp_path, f"call:{kind}", **QUICK) as server:
            before = sent(server)
            failed = await call(server, "echo", text="one")
            assert failed.is_error
            if kind == "crash":
                assert "was lost during the call of 'echo'" in failed.text
            else:
                assert "did not answer the call of 'echo' within 0.5 s" in failed.text
            assert (await call(server, "echo", text="two")).text == "two"
            # A crash costs one reconnect; a stall keeps the connection.
            assert server.connections == (2 if kind == "crash" else 1)
            assert len(pids(tmp_path)) == server.connections
            # Start 2 lists tools and schema keys in reverse: the model is sent the same bytes.
            assert sent(server) == before
    leaks.check()


@pytest.mark.parametrize("phase", ["initialize", "list"])
@pytest.mark.parametrize("kind", ["crash", "stall"])
async def test_a_fault_while_reconnecting_is_retried_within_the_bound(
    tmp_path: Path, phase: str, kind: str
) -> None:
    leaks = Leaks()
    with anyio.fail_after(20):
        # Start 1 crashes during a call; start 2 fails while reconnecting; start 3 is fine.
        faults = ("call:crash@1", f"{phase}:{kind}@2")
        async with fault_server(tmp_path, *faults, **QUICK) as server:
            assert (await call(server, "echo", text="one")).is_error
            assert (await call(server, "echo", text="two")).text == "two"
            assert server.connections == 2
            assert len(pids(tmp_path)) == 3
    leaks.check()


async def test_when_every_reconnect_fails_the_call_says_so_and_a_later_one_recovers(
    tmp_path: Path,
) -> None:
    leaks = Leaks()
    with anyio.fail_after(20):
        faults = ("call:crash@1", "initialize:crash@2", "list:stall@3")
        async with fault_server(tmp_path, *faults, connect_attempts=2, **QUICK) as server:
            assert (await call(server, "echo", text="one")).is_error
            unavailable = await call(server, "echo", text="two")
            assert unavailable.is_error
            assert "unavailable after 2 connection attempts" in unavailable.text
            assert "did not finish connecting within 0.5 s" in unavailable.text
            assert (await call(server, "echo", text="three")).text == "three"
            assert len(pids(tmp_path)) == 4
    leaks.check()


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # 4 s of the SDK's escalation: once
async def test_a_server_that_will_not_exit_is_killed_on_close(tmp_path: Path) -> None:
    leaks = Leaks()
    with anyio.fail_after(15):
        async with fault_server(tmp_path, "close:stall", **QUICK) as server:
            assert (await call(server, "echo", text="hi")).text == "hi"
            (pid,) = pids(tmp_path)
            assert pid in children()
    leaks.check()


async def test_a_cancelled_caller_leaves_the_connection_usable(tmp_path: Path) -> None:
    leaks = Leaks()
    with anyio.fail_after(15):
        async with fault_server(tmp_path, "call:stall", call_timeout=30.0) as server:
            with anyio.move_on_after(0.3) as scope:
                await call(server, "echo", text="never answered")
            assert scope.cancelled_caught
            assert (await call(server, "echo", text="next")).text == "next"
            assert server.connections == 1
    leaks.check()


async def test_closing_while_a_call_waits_ends_the_call_and_the_process(tmp_path: Path) -> None:
    leaks = Leaks()
    outcome: list[str] = []
    server = fault_server(tmp_path, "call:stall", call_timeout=30.0)

    async def waiting_call() -> None:
        outcome.append((await call(server, "echo", text="x")).text)

    with anyio.fail_after(15):
        async with anyio.create_task_group() as tg, server:
            tg.start_soon(waiting_call)
            await anyio.wait_all_tasks_blocked()
        # Closed under a waiting call: it ends with an error result, not a hang.
    assert len(outcome) == 1 and "MCP server 'faulty'" in outcome[0]
    leaks.check()


async def test_a_command_that_does_not_exist_is_a_typed_error() -> None:
    with anyio.fail_after(10):
        with pytest.raises(MCPConnectionError, match="cannot connect to MCP server 'nope'"):
            async with MCPServer.stdio("/nonexistent/mcp-server", name="nope"):
                pytest.fail("opened")

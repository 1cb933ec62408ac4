"""The reference servers mcp-server-time and mcp-server-git over stdio, through full agent runs."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from agentkit import Agent, AnthropicProvider, ToolResultMessage, tool
from agentkit.mcp import MCPServer
from agentkit.testing.emulator import Emulator, ManualClock, ModelReply, ToolUse
from tests.test_mcp.conftest import API_KEY, Leaks, children, time_server, wait_exit

pytestmark = pytest.mark.anyio

# Long enough to be cached (1,024 tokens) on its own, so every request has a prefix to read.
SYSTEM = "You answer questions about time and repositories. " * 120
MODEL = "claude-sonnet-4-5"


def results(agent: Agent) -> list[ToolResultMessage]:
    return [m for m in agent.messages if isinstance(m, ToolResultMessage)]


def assert_every_request_reads_the_one_before(emu: Emulator) -> None:
    reports = [r.cache for r in emu.requests]
    assert all(r is not None for r in reports)
    assert reports[0].read_tokens == 0 and reports[0].write_5m_tokens > 1024
    for before, after in itertools.pairwise(reports):
        assert before is not None and after is not None
        assert after.read_tokens == before.read_tokens + before.write_5m_tokens


def tools_json(emu: Emulator) -> list[str]:
    return [json.dumps(r.body["tools"], sort_keys=False) for r in emu.requests]


async def test_time_server_through_an_agent_run_then_killed_mid_run_and_reconnected() -> None:
    leaks = Leaks()
    with anyio.fail_after(40):
        async with time_server() as server:
            (first_pid,) = [p for p, cmd in children().items() if "mcp_server_time" in cmd]

            class Clock(Agent):
                model = MODEL
                system_prompt = SYSTEM

                @tool
                async def restart_clock(self) -> str:
                    """Kill the time server."""
                    os.kill(first_pid, signal.SIGKILL)
                    await wait_exit(first_pid)
                    return "killed"

            paris = ToolUse("get_current_time", {"timezone": "Europe/Paris"})
            script = [
                ModelReply(tool_calls=[paris]),
                ModelReply(tool_calls=[ToolUse("restart_clock")]),
                ModelReply(tool_calls=[paris]),  # the connection is gone: an error result
                ModelReply(tool_calls=[paris]),  # reconnected
                ModelReply("It is evening in Paris."),
            ]
            async with Emulator(script=script, clock=ManualClock()) as emu:
                provider = AnthropicProvider(api_key=API_KEY, base_url=emu.anthropic_base_url)
                async with provider:
                    agent = Clock(provider=provider, mcp_servers=[server])
                    result = await agent.run("What time is it in Paris? Then restart the clock.")
            assert result.text == "It is evening in Paris."
            first, killed, lost, again = results(agent)
            assert not first.is_error and json.loads(first.text)["timezone"] == "Europe/Paris"
            assert killed.text == "killed"
            assert lost.is_error and "connection to MCP server 'time' was lost" in lost.text
            assert not again.is_error and json.loads(again.text)["timezone"] == "Europe/Paris"
            assert server.connections == 2
            (second_pid,) = [p for p, cmd in children().items() if "mcp_server_time" in cmd]
            assert second_pid != first_pid
            # The tool definitions: the same bytes on every request, across the reconnect.
            sent = tools_json(emu)
            assert len(sent) == 5 and len(set(sent)) == 1
            names = [t["name"] for t in emu.requests[0].body["tools"]]
            assert names == ["restart_clock", "convert_time", "get_current_time"]
            assert_every_request_reads_the_one_before(emu)
    leaks.check()  # the server process is gone after close, and its pipes are closed


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


async def test_git_server_tools_through_an_agent_run(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("hello\n")
    git(repo, "add", "README.md")
    git(repo, "commit", "-q", "-m", "First commit")
    (repo / "new.txt").write_text("untracked\n")
    leaks = Leaks()
    with anyio.fail_after(40):
        server = MCPServer.stdio(
            sys.executable,
            ["-m", "mcp_server_git", "--repository", str(repo)],
            name="git",
            allow=["git_status", "git_log"],
        )
        async with server:
            assert [t.name for t in server.tools] == ["git_log", "git_status"]
            script = [
                ModelReply(tool_calls=[ToolUse("git_status", {"repo_path": str(repo)})]),
                ModelReply(tool_calls=[ToolUse("git_log", {"repo_path": str(repo)})]),
                ModelReply("One commit, one untracked file."),
            ]
            async with Emulator(script=script, clock=ManualClock()) as emu:
                provider = AnthropicProvider(api_key=API_KEY, base_url=emu.anthropic_base_url)
                async with provider:
                    agent = Agent(
                        provider=provider, model=MODEL, system_prompt=SYSTEM, mcp_servers=[server]
                    )
                    await agent.run("What is the state of the repository?")
            status, log = results(agent)
            assert not status.is_error and "new.txt" in status.text
            assert not log.is_error and "First commit" in log.text
            assert len(set(tools_json(emu))) == 1
            assert_every_request_reads_the_one_before(emu)
    leaks.check()

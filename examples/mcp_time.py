"""Tools from an MCP server: an agent asks the reference time server, on the emulator.

    python examples/mcp_time.py

``mcp-server-time`` (``pip install mcp-server-time``) runs as a child process
speaking MCP over stdio; its two tools join the agent's own tool. The model is
agentkit's local emulator with a scripted answer, so no API key or network is
needed. Every request reads the whole prompt prefix the one before cached:
the MCP tool definitions are the same bytes on every request.
"""

from __future__ import annotations

import sys

import anyio

from agentkit import Agent, AnthropicProvider, ToolResultMessage, tool
from agentkit.mcp import MCPServer
from agentkit.testing.emulator import Emulator, ModelReply, ToolUse


class Planner(Agent):
    model = "claude-sonnet-4-5"
    # Long enough to be worth caching (Claude caches 1,024 tokens or more).
    system_prompt = "You plan meetings across time zones and answer in one sentence. " * 80

    @tool
    def meeting_length(self, minutes: int) -> str:
        """Say how long the meeting is."""
        return f"{minutes} minutes"


TOKYO_9AM = {"source_timezone": "Asia/Tokyo", "time": "09:00", "target_timezone": "Europe/Paris"}
SCRIPT = [
    ModelReply(tool_calls=[ToolUse("get_current_time", {"timezone": "Asia/Tokyo"})]),
    ModelReply(
        tool_calls=[
            ToolUse("convert_time", TOKYO_9AM),
            ToolUse("meeting_length", {"minutes": 30}),
        ]
    ),
    ModelReply("A 30-minute call at 09:00 in Tokyo is 01:00 in Paris."),
]


async def main() -> None:
    time_server = MCPServer.stdio(
        sys.executable, ["-m", "mcp_server_time", "--local-timezone", "UTC"], name="time"
    )
    async with time_server, Emulator(script=SCRIPT) as emu:
        provider = AnthropicProvider(api_key="sk-ant-emulator", base_url=emu.anthropic_base_url)
        async with provider:
            agent = Planner(provider=provider, mcp_servers=[time_server])
            print("tools:", ", ".join(t.name for t in agent.tools))
            result = await agent.run("When is 9am Tokyo in Paris? Book 30 minutes.")
        for message in agent.messages:
            if isinstance(message, ToolResultMessage):
                print(f"{message.tool_name} -> {' '.join(message.text.split())}")
        print("answer:", result.text)
        for number, record in enumerate(emu.requests, start=1):
            cache = record.cache
            assert cache is not None
            print(
                f"request {number}: cache read {cache.read_tokens}, "
                f"cache write {cache.write_5m_tokens}"
            )


if __name__ == "__main__":
    anyio.run(main)

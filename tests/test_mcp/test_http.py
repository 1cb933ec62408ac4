"""An SDK-written server over streamable HTTP on loopback: tools, results, resources, prompts."""

from __future__ import annotations

import json

import anyio
import httpx2
import pytest

from agentkit import (
    Agent,
    AnthropicProvider,
    AssistantMessage,
    ImageContent,
    TextContent,
    ToolResultMessage,
    UserMessage,
)
from agentkit.mcp import MCPError, MCPServer, Prompt, PromptArgument, Resource
from agentkit.testing.emulator import Emulator, ManualClock, ModelReply, ToolUse
from tests.test_mcp.conftest import API_KEY, HTTPServer, Leaks, call, tools_changed
from tests.test_mcp.sdk_server import PNG

pytestmark = pytest.mark.anyio

SYSTEM = "You add numbers and look at pictures. " * 150


class SeenHeaders(httpx2.Auth):
    """An httpx2 auth that adds a bearer token (and remembers it ran)."""

    def __init__(self) -> None:
        self.requests = 0

    def auth_flow(self, request: httpx2.Request):  # type: ignore[no-untyped-def]
        self.requests += 1
        request.headers["Authorization"] = "Bearer sk-test-SENTINEL-bearer"
        yield request


async def test_tools_through_an_agent_run(http_server: HTTPServer) -> None:
    auth = SeenHeaders()
    with anyio.fail_after(30):
        server = MCPServer.http(http_server.url, name="calc", headers={"x-team": "a"}, auth=auth)
        async with server:
            script = [
                ModelReply(tool_calls=[ToolUse("add", {"a": 2, "b": 3}), ToolUse("dot")]),
                ModelReply(tool_calls=[ToolUse("refuse", {"reason": "no"})]),
                ModelReply("5, a dot, and a refusal."),
            ]
            async with Emulator(script=script, clock=ManualClock()) as emu:
                provider = AnthropicProvider(api_key=API_KEY, base_url=emu.anthropic_base_url)
                async with provider:
                    agent = Agent(
                        provider=provider,
                        model="claude-sonnet-4-5",
                        system_prompt=SYSTEM,
                        mcp_servers=[server],
                    )
                    result = await agent.run("Add 2 and 3, show a dot, then refuse.")
            assert result.text == "5, a dot, and a refusal."
            added, dot, refused = [m for m in agent.messages if isinstance(m, ToolResultMessage)]
            assert json.loads(added.text) == {"total": 5, "terms": [2, 3]}  # structured output
            assert dot.content == (ImageContent(dot.content[0].data, "image/png"),)
            assert not dot.is_error
            assert refused.is_error and "refused: no" in refused.text  # isError from the server
            bodies = [r.body["tools"] for r in emu.requests]
            assert [t["name"] for t in bodies[0]] == ["add", "dot", "grow", "refuse"]
            assert all(b == bodies[0] for b in bodies)
            reports = [r.cache for r in emu.requests]
            assert reports[1] is not None and reports[0] is not None
            assert reports[1].read_tokens == reports[0].write_5m_tokens > 0
    assert auth.requests > 0


async def test_resources_templates_and_prompts_as_agentkit_values(
    http_server: HTTPServer,
) -> None:
    with anyio.fail_after(20):
        async with MCPServer.http(http_server.url, name="notes") as server:
            resources = await server.list_resources()
            assert resources[0] == Resource("note://hello", "hello", "A greeting.", "text/plain")
            assert [r.uri for r in resources] == ["note://hello", "img://dot", "bin://blob"]
            assert await server.read_resource("note://hello") == (
                TextContent("Hello from a resource."),
            )
            (image,) = await server.read_resource("img://dot")
            assert isinstance(image, ImageContent) and image.media_type == "image/png"
            import base64

            assert base64.b64decode(image.data) == PNG
            with pytest.raises(MCPError, match=r"bin://blob.*binary \(application/octet-stream\)"):
                await server.read_resource("bin://blob")
            with pytest.raises(MCPError, match="refused resources/read"):
                await server.read_resource("missing://nothing")

            (template,) = await server.list_resource_templates()
            assert template.variables == ("name",)
            assert template.uri(name="a b") == "note://a%20b"
            assert await server.read_resource(template.uri(name="x")) == (TextContent("Note x."),)

            (prompt,) = await server.list_prompts()
            assert prompt == Prompt(
                "review",
                "Ask for a code review.",
                (PromptArgument("code", None, True), PromptArgument("language", None, False)),
            )
            messages = await server.get_prompt("review", {"code": "x = 1", "language": "c"})
            assert [type(m) for m in messages] == [UserMessage, AssistantMessage]
            assert messages[0].text == "Review this c code:\nx = 1"
            assert messages[1].text == "Sure, looking at it now."
            with pytest.raises(MCPError, match="refused prompts/get"):
                await server.get_prompt("review", {})  # the required argument is missing


async def test_a_changed_tool_list_is_picked_up_by_the_next_run(http_server: HTTPServer) -> None:
    with anyio.fail_after(20), tools_changed() as changed:
        async with MCPServer.http(http_server.url, name="calc") as server:
            before = server.tools
            assert [t.name for t in before] == ["add", "dot", "grow", "refuse"]
            assert (await call(server, "grow")).text == "grown"
            await changed.wait()
            assert [t.name for t in server.tools] == ["add", "dot", "grow", "late", "refuse"]
            # Tools that did not change keep the same definition, so the prefix still matches.
            assert [t.definition for t in server.tools if t.name != "late"] == [
                t.definition for t in before
            ]
            assert (await call(server, "late")).text == "late"


async def test_http_server_restarted_mid_session_errors_once_then_reconnects() -> None:
    leaks = Leaks()
    first = HTTPServer().start()
    port = first.port
    with anyio.fail_after(30):
        async with MCPServer.http(first.url, name="calc", connect_timeout=5) as server:
            assert (await call(server, "add", a=1, b=1)).text.count("2") >= 1
            first.stop()
            lost = await call(server, "add", a=1, b=2)
            assert lost.is_error and "calc" in lost.text
            second = HTTPServer(port=port).start()
            try:
                again = await call(server, "add", a=1, b=2)
                assert not again.is_error and json.loads(again.text)["total"] == 3
                assert server.connections == 2
            finally:
                second.stop()
    leaks.check()

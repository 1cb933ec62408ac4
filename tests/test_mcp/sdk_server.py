"""A server written with the MCP SDK's own server API, served over streamable HTTP."""

from __future__ import annotations

import base64
from typing import Any

from mcp.server.mcpserver import Context, Image, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.prompts.base import AssistantMessage, UserMessage
from pydantic import BaseModel

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


class Sum(BaseModel):
    total: int
    terms: list[int]


def build() -> MCPServer:
    server = MCPServer("sdk-test-server", version="1.0")

    @server.tool()
    def add(a: int, b: int) -> Sum:
        """Add two integers."""
        return Sum(total=a + b, terms=[a, b])

    @server.tool()
    def dot() -> Image:
        """A one-pixel image."""
        return Image(data=PNG, format="png")

    @server.tool()
    def refuse(reason: str) -> str:
        """Always fails, with the reason."""
        raise ToolError(f"refused: {reason}")

    @server.tool()
    async def grow(ctx: Context) -> str:
        """Add the tool 'late'."""

        def late() -> str:
            """Added at run time."""
            return "late"

        server.add_tool(late)
        await ctx.notify_tools_changed()
        return "grown"

    @server.resource("note://hello", mime_type="text/plain", description="A greeting.")
    def hello() -> str:
        return "Hello from a resource."

    @server.resource("img://dot", mime_type="image/png")
    def dot_image() -> bytes:
        return PNG

    @server.resource("bin://blob", mime_type="application/octet-stream")
    def blob() -> bytes:
        return b"\x00\x01"

    @server.resource("note://{name}", mime_type="text/plain", description="A note by name.")
    def note(name: str) -> str:
        return f"Note {name}."

    @server.prompt(description="Ask for a code review.")
    def review(code: str, language: str = "python") -> list[UserMessage | AssistantMessage]:
        return [
            UserMessage(f"Review this {language} code:\n{code}"),
            AssistantMessage("Sure, looking at it now."),
        ]

    return server


def app() -> Any:
    """The streamable-HTTP ASGI app, for ``uvicorn --factory``."""
    return build().streamable_http_app()

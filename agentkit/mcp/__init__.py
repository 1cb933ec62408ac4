"""Tools, resources and prompts from Model Context Protocol servers (the ``mcp`` extra).

::

    async with MCPServer.stdio("uvx", ["mcp-server-time"]) as time_server:
        agent = Agent(provider=provider, model=model, mcp_servers=[time_server])
        await agent.run("What time is it in Tokyo?")

See the guide "Tools from MCP servers" for naming, filters and reconnects.
"""

from __future__ import annotations

try:
    import mcp as _mcp  # noqa: F401 - fail here, with the fix, not deep in an import chain
except ImportError as exc:  # pragma: no cover - the extra is installed in development
    raise ModuleNotFoundError(
        "agentkit.mcp needs the MCP SDK: pip install 'agentkit-loop[mcp]'", name="mcp"
    ) from exc

from agentkit.mcp._client import MCPServer, mcp_tools
from agentkit.mcp._values import (
    MCPConnectionError,
    MCPError,
    Prompt,
    PromptArgument,
    Resource,
    ResourceTemplate,
)

__all__ = [
    "MCPServer",
    "mcp_tools",
    "MCPError",
    "MCPConnectionError",
    "Resource",
    "ResourceTemplate",
    "Prompt",
    "PromptArgument",
]

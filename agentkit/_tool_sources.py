"""Tools that come from outside the agent (MCP servers), merged with its own.

A tool source has a ``name`` and a current tuple of ``tools``; :func:`merge_tools`
combines them with the agent's own tools under one naming rule: a name used by
exactly one tool is kept; a name used more than once is kept by the agent's own
tool (if it has one), and every source's copy becomes ``<source name>_<tool name>``.
The order is the agent's own tools as given, then each source's tools in source
order (each source's tools are already sorted), so it is the same on every call.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import attrs

from agentkit._errors import ToolDefinitionError
from agentkit._messages import TOOL_NAME, ToolDefinition
from agentkit._tools import Tool

__all__ = ["ToolSource", "merge_tools", "renamed"]


@runtime_checkable
class ToolSource(Protocol):
    """Something that lends an agent tools it owns: an MCP server."""

    @property
    def name(self) -> str: ...

    @property
    def tools(self) -> tuple[Tool, ...]: ...


def renamed(tool: Tool, name: str) -> Tool:
    """``tool`` as the model sees it under ``name`` (same handler and schema)."""
    if not TOOL_NAME.fullmatch(name):
        raise ToolDefinitionError(
            f"tool name {name!r} must be 1-64 letters, digits, '_' or '-' "
            "(shorten the source's name or deny the tool)"
        )
    definition = ToolDefinition(name, tool.definition.description, tool.definition.parameters)
    return attrs.evolve(tool, name=name, definition=definition)


def merge_tools(own: Sequence[Tool], sources: Sequence[ToolSource]) -> tuple[Tool, ...]:
    """The agent's own tools and every source's current tools, named by the rule above."""
    names = [s.name for s in sources]
    repeated = sorted(n for n, c in Counter(names).items() if c > 1)
    if repeated:
        raise ToolDefinitionError(f"more than one tool source is named {', '.join(repeated)}")
    lent = [(source.name, source.tools) for source in sources]
    counts = Counter(t.name for t in own)
    for _, tools in lent:
        counts.update(t.name for t in tools)
    merged = list(own)
    for source_name, tools in lent:
        for tool in tools:
            merged.append(
                renamed(tool, f"{source_name}_{tool.name}") if counts[tool.name] > 1 else tool
            )
    taken = Counter(t.name for t in merged)
    clashes = sorted(n for n, c in taken.items() if c > 1)
    if clashes:
        raise ToolDefinitionError(
            f"tool names {', '.join(clashes)} are still used twice after prefixing colliding "
            "tools with their server's name; rename a tool or deny one"
        )
    return tuple(merged)

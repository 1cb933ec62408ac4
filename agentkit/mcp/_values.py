"""What an MCP server lists, as agentkit values, and its content as agentkit content."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import mcp_types as mt
from attrs import define

from agentkit._errors import AgentkitError
from agentkit._messages import (
    AssistantMessage,
    ImageContent,
    TextContent,
    UserContent,
    UserMessage,
)

__all__ = [
    "MCPConnectionError",
    "MCPError",
    "Prompt",
    "PromptArgument",
    "Resource",
    "ResourceTemplate",
    "content_blocks",
    "prompt_messages",
    "resource_blocks",
    "tool_result_content",
]


class MCPError(AgentkitError):
    """An MCP server refused a request, or sent something agentkit cannot use.

    ``code`` is the JSON-RPC error code when the server sent one.
    """

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class MCPConnectionError(MCPError):
    """The MCP server could not be reached, did not answer in time, or went away."""


@define(frozen=True, slots=True)
class Resource:
    """A resource the server lists; read it with :meth:`MCPServer.read_resource`."""

    uri: str
    name: str
    description: str | None = None
    mime_type: str | None = None


_VARIABLE = re.compile(r"\{([+#]?)([A-Za-z0-9_.,]+)\}")


@define(frozen=True, slots=True)
class ResourceTemplate:
    """A family of resources (``uri_template`` is an RFC 6570 template); see :meth:`uri`."""

    uri_template: str
    name: str
    description: str | None = None
    mime_type: str | None = None

    @property
    def variables(self) -> tuple[str, ...]:
        """The template's variable names, in order."""
        return tuple(
            name for m in _VARIABLE.finditer(self.uri_template) for name in m.group(2).split(",")
        )

    def uri(self, **values: str) -> str:
        """The URI with every variable filled in (simple and reserved expansion).

        Raises :class:`MCPError` naming a missing or unknown variable.
        """
        wanted = set(self.variables)
        missing, unknown = sorted(wanted - set(values)), sorted(set(values) - wanted)
        if missing or unknown:
            raise MCPError(
                f"resource template {self.uri_template!r}: "
                + "; ".join(
                    part
                    for part in (
                        f"missing {', '.join(missing)}" if missing else "",
                        f"unknown {', '.join(unknown)}" if unknown else "",
                    )
                    if part
                )
            )

        def expand(m: re.Match[str]) -> str:
            safe = ":/?#[]@!$&'()*+,;=" if m.group(1) else ""
            parts = [quote(str(values[n]), safe=safe) for n in m.group(2).split(",")]
            return ("#" if m.group(1) == "#" else "") + ",".join(parts)

        return _VARIABLE.sub(expand, self.uri_template)


@define(frozen=True, slots=True)
class PromptArgument:
    """One argument of a :class:`Prompt`."""

    name: str
    description: str | None = None
    required: bool = False


@define(frozen=True, slots=True)
class Prompt:
    """A prompt the server offers; fetch it with :meth:`MCPServer.get_prompt`."""

    name: str
    description: str | None = None
    arguments: tuple[PromptArgument, ...] = ()


def resource_from(r: mt.Resource) -> Resource:
    return Resource(r.uri, r.name, r.description or r.title, r.mime_type)


def template_from(r: mt.ResourceTemplate) -> ResourceTemplate:
    return ResourceTemplate(r.uri_template, r.name, r.description or r.title, r.mime_type)


def prompt_from(p: mt.Prompt) -> Prompt:
    arguments = tuple(
        PromptArgument(a.name, a.description or a.title, bool(a.required))
        for a in (p.arguments or ())
    )
    return Prompt(p.name, p.description or p.title, arguments)


# --------------------------------------------------------------------------- content

Block = mt.TextContent | mt.ImageContent | mt.AudioContent | mt.ResourceLink | mt.EmbeddedResource


def _resource_contents(
    contents: mt.TextResourceContents | mt.BlobResourceContents, *, strict: bool
) -> UserContent:
    if isinstance(contents, mt.TextResourceContents):
        return TextContent(contents.text)
    mime = contents.mime_type or "application/octet-stream"
    if mime.startswith("image/"):
        return ImageContent(contents.blob, mime)
    if strict:
        raise MCPError(
            f"resource {contents.uri!r} is binary ({mime}); agentkit messages hold only "
            "text and images"
        )
    return TextContent(f"[binary resource {contents.uri} ({mime}) not shown]")


def content_blocks(blocks: Sequence[Block]) -> tuple[UserContent, ...]:
    """MCP content as agentkit content; what messages cannot hold becomes a short note."""
    out: list[UserContent] = []
    for block in blocks:
        if isinstance(block, mt.TextContent):
            out.append(TextContent(block.text))
        elif isinstance(block, mt.ImageContent):
            out.append(ImageContent(block.data, block.mime_type))
        elif isinstance(block, mt.AudioContent):
            out.append(TextContent(f"[audio ({block.mime_type}) not shown]"))
        elif isinstance(block, mt.ResourceLink):
            about = f": {block.description}" if block.description else ""
            out.append(TextContent(f"[resource {block.uri} ({block.name}){about}]"))
        else:
            out.append(_resource_contents(block.resource, strict=False))
    return tuple(out)


def tool_result_content(result: mt.CallToolResult) -> tuple[UserContent, ...]:
    """A tool result's content; structured content is added as JSON when no text carries it."""
    blocks = content_blocks(result.content)
    if result.structured_content is not None and not any(
        isinstance(b, TextContent) for b in blocks
    ):
        text = json.dumps(result.structured_content, sort_keys=True, ensure_ascii=False)
        blocks = (*blocks, TextContent(text))
    return blocks


def resource_blocks(result: mt.ReadResourceResult) -> tuple[UserContent, ...]:
    return tuple(_resource_contents(c, strict=True) for c in result.contents)


def prompt_messages(
    name: str, result: mt.GetPromptResult
) -> tuple[UserMessage | AssistantMessage, ...]:
    messages: list[UserMessage | AssistantMessage] = []
    for i, message in enumerate(result.messages):
        blocks = content_blocks([message.content])
        if message.role == "user":
            messages.append(UserMessage(blocks))
            continue
        if not all(isinstance(b, TextContent) for b in blocks):
            raise MCPError(
                f"prompt {name!r}: message {i} is the assistant's and holds an image, "
                "which agentkit's assistant messages cannot hold"
            )
        messages.append(AssistantMessage(blocks))
    return tuple(messages)


def jsonable(value: Mapping[str, Any]) -> dict[str, Any]:
    """A canonical copy: keys sorted at every level, so equal schemas serialise equally."""
    copy: dict[str, Any] = json.loads(json.dumps(value, sort_keys=True, allow_nan=False))
    return copy

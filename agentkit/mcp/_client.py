"""One MCP server: its connection, owned by one task, and its tools as agentkit tools.

Every anyio context the SDK opens for a connection (the transport, the
session, their task groups) is entered and exited by one task, the
server's *owner*, started by ``async with MCPServer...``. Callers in any
task send requests over the owner's session and never enter or exit a
scope of their own around it, so no cancel scope crosses tasks: the
failure the peers hit on teardown and reconnect ("Attempted to exit cancel
scope in a different task") cannot happen by construction.

The owner connects, lists the tools, then waits until the connection is
dropped (a request saw it fail) or the server is closed; a later request
asks it to connect again, at most ``connect_attempts`` times per request.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO, TypeVar
from urllib.parse import urlsplit

import anyio
import anyio.abc
import httpx2
import mcp_types as mt
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.client.subscriptions import ListenNotSupportedError, SubscriptionLost
from mcp.shared.exceptions import MCPError as SDKError
from mcp_types import CONNECTION_CLOSED
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from agentkit._errors import ToolDefinitionError
from agentkit._log import get_logger
from agentkit._messages import TOOL_NAME, AssistantMessage, UserContent, UserMessage
from agentkit._tool_sources import merge_tools
from agentkit._tools import Tool, ToolContext, ToolResult
from agentkit.mcp._values import (
    MCPConnectionError,
    MCPError,
    Prompt,
    Resource,
    ResourceTemplate,
    jsonable,
    prompt_from,
    prompt_messages,
    resource_blocks,
    resource_from,
    template_from,
    tool_result_content,
)

__all__ = ["MCPServer", "mcp_tools"]

_log = get_logger("agentkit.mcp")
_T = TypeVar("_T")
_MAX_PAGES = 100  # a server whose cursor never ends cannot hang a listing
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
# What a dead or broken connection raises from a request, besides the SDK's CONNECTION_CLOSED.
_BROKEN = (
    anyio.ClosedResourceError,
    anyio.BrokenResourceError,
    anyio.EndOfStream,
    ConnectionError,
    httpx2.TransportError,
)


def _leaf(exc: BaseException) -> BaseException:
    """The one exception inside nested single-member groups (the SDK's task groups wrap)."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def _describe(exc: BaseException) -> str:
    leaf = _leaf(exc)
    if isinstance(leaf, SDKError):
        return f"{leaf.error.message} (code {leaf.code})"
    text = str(leaf)
    return f"{type(leaf).__name__}: {text}" if text else type(leaf).__name__


def _safe_name(name: str) -> str:
    return _UNSAFE.sub("_", name)


class _Connection:
    """One live connection, as the owner task published it."""

    __slots__ = ("client", "dropped", "tools_changed")

    def __init__(self, client: Client) -> None:
        self.client = client
        self.dropped = anyio.Event()  # set by whoever sees it fail, or by close
        self.tools_changed = anyio.Event()


class MCPServer:
    """An MCP server's tools, resources and prompts; build one with :meth:`stdio` or :meth:`http`.

    Open it with ``async with``, in the task that will close it; while open,
    :attr:`tools` are agentkit tools for an :class:`~agentkit.Agent`
    (``Agent(mcp_servers=[server])``) and requests may come from any task.
    See the guide "Tools from MCP servers" for the reconnect policy.
    """

    def __init__(
        self,
        connect: Callable[[AsyncExitStack], Awaitable[Client]],
        *,
        name: str,
        allow: Collection[str] | None = None,
        deny: Collection[str] = (),
        call_timeout: float = 60.0,
        request_timeout: float = 30.0,
        connect_timeout: float = 30.0,
        connect_attempts: int = 2,
    ) -> None:
        """Use :meth:`stdio` or :meth:`http`; ``connect`` opens one connection on an exit stack."""
        if not isinstance(name, str) or not TOOL_NAME.fullmatch(name) or len(name) > 32:
            raise ToolDefinitionError(
                f"MCP server name {name!r} must be 1-32 letters, digits, '_' or '-'"
            )
        for label, value in (
            ("call_timeout", call_timeout),
            ("request_timeout", request_timeout),
            ("connect_timeout", connect_timeout),
        ):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"{label} must be a positive number, got {value!r}")
        if isinstance(connect_attempts, bool) or not isinstance(connect_attempts, int):
            raise ValueError(
                f"connect_attempts must be a positive integer, got {connect_attempts!r}"
            )
        if connect_attempts < 1:
            raise ValueError(
                f"connect_attempts must be a positive integer, got {connect_attempts!r}"
            )
        for label, names in (("allow", allow or ()), ("deny", deny)):
            if isinstance(names, str) or not all(isinstance(n, str) for n in names):
                raise TypeError(f"{label} must be a collection of tool names, got {names!r}")
        self._connect = connect
        self._name = name
        self._allow = None if allow is None else frozenset(allow)
        self._deny = frozenset(deny)
        self._call_timeout = float(call_timeout)
        self._request_timeout = float(request_timeout)
        self._connect_timeout = float(connect_timeout)
        self._connect_attempts = connect_attempts
        # Owner-task state; callers only read it and set events.
        self._task_group: anyio.abc.TaskGroup | None = None
        self._closed = False
        self._live: _Connection | None = None
        self._tools: tuple[Tool, ...] = ()
        self._wanted = anyio.Event()  # a caller wants a connection
        self._attempted = anyio.Event()  # the owner finished a connection attempt
        self._attempt_scope: anyio.CancelScope | None = None
        self._last_error = ""
        self._connections = 0

    # ------------------------------------------------------------------ construction

    @classmethod
    def stdio(
        cls,
        command: str,
        args: Sequence[str] = (),
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        stderr: TextIO | None = None,
        name: str | None = None,
        allow: Collection[str] | None = None,
        deny: Collection[str] = (),
        call_timeout: float = 60.0,
        request_timeout: float = 30.0,
        connect_timeout: float = 30.0,
        connect_attempts: int = 2,
    ) -> MCPServer:
        """A server run as a child process, speaking over its stdin and stdout.

        ``env`` is added to a small safe default environment (``PATH``,
        ``HOME``, ...), not to this process's; the server's stderr goes to
        ``stderr`` (discarded when None). ``name`` defaults to the module of
        ``python -m module``, else the command's file name.
        """
        if not isinstance(command, str) or not command:
            raise ValueError("command must be a non-empty string")
        if isinstance(args, str):
            raise TypeError("args must be a sequence of strings, not one string")
        params = StdioServerParameters(
            command=command,
            args=list(args),
            env=None if env is None else dict(env),
            cwd=cwd,
        )

        async def connect(stack: AsyncExitStack) -> Client:
            # /dev/null opens without blocking; the stack closes it with the connection.
            log = stderr
            if log is None:
                log = stack.enter_context(open(os.devnull, "w"))  # noqa: ASYNC230, SIM115
            return await server._open(stack, stdio_client(params, errlog=log))

        if name is None:
            module = args[args.index("-m") + 1] if "-m" in args[:-1] else None
            name = _safe_name(module or Path(command).stem)[:32]
        server = cls(
            connect,
            name=name,
            allow=allow,
            deny=deny,
            call_timeout=call_timeout,
            request_timeout=request_timeout,
            connect_timeout=connect_timeout,
            connect_attempts=connect_attempts,
        )
        return server

    @classmethod
    def http(
        cls,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: httpx2.Auth | None = None,
        name: str | None = None,
        allow: Collection[str] | None = None,
        deny: Collection[str] = (),
        call_timeout: float = 60.0,
        request_timeout: float = 30.0,
        connect_timeout: float = 30.0,
        connect_attempts: int = 2,
    ) -> MCPServer:
        """A server at a streamable-HTTP endpoint (``http(s)://host/mcp``).

        ``headers`` go with every request, ``auth`` is an ``httpx2.Auth`` (the
        SDK's HTTP library). ``name`` defaults to the URL's host.
        """
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("url must be an http:// or https:// URL")
        fixed_headers = dict(headers or {})

        async def connect(stack: AsyncExitStack) -> Client:
            http_client = await stack.enter_async_context(
                httpx2.AsyncClient(
                    headers=fixed_headers,
                    auth=auth,
                    timeout=httpx2.Timeout(connect_timeout, read=max(call_timeout, 300.0)),
                )
            )
            return await server._open(stack, streamable_http_client(url, http_client=http_client))

        server = cls(
            connect,
            name=name if name is not None else _safe_name(parts.hostname)[:32],
            allow=allow,
            deny=deny,
            call_timeout=call_timeout,
            request_timeout=request_timeout,
            connect_timeout=connect_timeout,
            connect_attempts=connect_attempts,
        )
        return server

    def __repr__(self) -> str:
        state = "closed" if self._task_group is None else "open"
        return f"<MCPServer {self._name!r} {state}, {len(self._tools)} tools>"

    # ------------------------------------------------------------------ public state

    @property
    def name(self) -> str:
        """The server's name: prefixes its tools' names when they collide with others."""
        return self._name

    @property
    def tools(self) -> tuple[Tool, ...]:
        """The server's tools (after ``allow``/``deny``), sorted by name, as last listed.

        Raises :class:`MCPError` when the server is not open.
        """
        self._check_open()
        return self._tools

    @property
    def connections(self) -> int:
        """How many times a connection was made (1 after opening, more after reconnects)."""
        return self._connections

    # ------------------------------------------------------------------ lifetime

    async def __aenter__(self) -> MCPServer:
        if self._task_group is not None or self._closed:
            raise MCPError(f"MCP server {self._name!r} can be opened once")
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        try:
            await task_group.start(self._own)
        except BaseException as exc:
            task_group.cancel_scope.cancel()
            await task_group.__aexit__(None, None, None)
            self._closed = True
            leaf = _leaf(exc)
            if leaf is not exc and isinstance(leaf, MCPError):
                raise leaf from None
            raise
        self._task_group = task_group
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        task_group, self._task_group = self._task_group, None
        if task_group is None:
            return
        self._closed = True
        if self._live is not None:
            self._live.dropped.set()
        if self._attempt_scope is not None:
            self._attempt_scope.cancel()
        self._wanted.set()
        self._attempted.set()
        # Not handed the body's exception: it propagates as it is, not in a group.
        await task_group.__aexit__(None, None, None)

    def _check_open(self) -> None:
        if self._task_group is None:
            raise MCPError(
                f"MCP server {self._name!r} is not open: use `async with server:` around the runs"
            )

    # ------------------------------------------------------------------ the owner task

    async def _own(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        await self._hold(task_status.started)  # the first connection's failure fails __aenter__
        while True:
            await self._wanted.wait()
            self._wanted = anyio.Event()
            if self._closed:
                return
            try:
                await self._hold(self._attempt_done)
            except MCPError as exc:
                self._last_error = str(exc)
                _log.warning("mcp.connect_failed", server=self._name, error=self._last_error)
                self._attempt_done()

    def _attempt_done(self) -> None:
        self._wanted = anyio.Event()  # requests waiting now are served by this attempt
        self._attempted.set()
        self._attempted = anyio.Event()

    async def _hold(self, connected: Callable[[], None]) -> None:
        """Connect, list the tools, announce, then keep the connection until it is dropped."""
        deadline = anyio.current_time() + self._connect_timeout
        published: _Connection | None = None
        try:
            with anyio.CancelScope(deadline=deadline) as scope:
                self._attempt_scope = scope
                async with AsyncExitStack() as stack:
                    client = await self._connect(stack)
                    live = _Connection(client)
                    stack.push_async_callback(self._forget, live)
                    async with anyio.create_task_group() as watchers:
                        # Subscribed before listing: no change can fall in between.
                        await watchers.start(self._listen, live)
                        tools = await self._list_tools(client)
                        scope.deadline = math.inf
                        self._attempt_scope = None
                        self._tools, self._live, published = tools, live, live
                        self._connections += 1
                        _log.info("mcp.connected", server=self._name, tools=len(tools))
                        connected()
                        watchers.start_soon(self._refresh_tools, live)
                        await live.dropped.wait()
                        watchers.cancel_scope.cancel()
        except Exception as exc:
            leaf = _leaf(exc)
            if isinstance(leaf, MCPError):
                raise leaf from None
            if published is not None:
                _log.warning("mcp.connection_ended", server=self._name, error=_describe(exc))
                return
            raise MCPConnectionError(
                f"cannot connect to MCP server {self._name!r}: {_describe(exc)}"
            ) from leaf
        finally:
            self._attempt_scope = None
        if published is None and not self._closed:
            raise MCPConnectionError(
                f"MCP server {self._name!r} did not finish connecting within "
                f"{self._connect_timeout:g} s"
            )

    async def _forget(self, live: _Connection) -> None:
        live.dropped.set()
        if self._live is live:
            self._live = None

    async def _open(self, stack: AsyncExitStack, transport: Any) -> Client:
        async def on_message(message: Any) -> None:
            if isinstance(message, mt.ToolListChangedNotification):
                live = self._live  # a change before the first listing is in that listing
                if live is not None:
                    live.tools_changed.set()
            elif isinstance(message, Exception):
                _log.warning("mcp.transport_error", server=self._name, error=_describe(message))

        client = Client(transport, cache=None, message_handler=on_message)
        return await stack.enter_async_context(client)

    async def _refresh_tools(self, live: _Connection) -> None:
        while True:
            await live.tools_changed.wait()
            live.tools_changed = anyio.Event()
            try:
                with anyio.fail_after(self._request_timeout):
                    tools = await self._list_tools(live.client)
            except (MCPError, TimeoutError, SDKError, *_BROKEN) as exc:
                _log.warning("mcp.relist_failed", server=self._name, error=_describe(exc))
                continue
            if live is self._live:
                self._tools = tools
                _log.info("mcp.tools_changed", server=self._name, tools=len(tools))

    async def _listen(self, live: _Connection, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        """Change events on 2026-07-28 connections come through a subscription."""
        client = live.client
        capability = client.server_capabilities.tools
        if client.protocol_version not in MODERN_PROTOCOL_VERSIONS or not (
            capability and capability.list_changed
        ):
            task_status.started()  # older connections send notifications/tools/list_changed
            return
        started = False
        try:
            async with client.listen(tools_list_changed=True) as events:
                task_status.started()
                started = True
                async for _ in events:
                    live.tools_changed.set()
        except (ListenNotSupportedError, SubscriptionLost, SDKError, TimeoutError, *_BROKEN) as e:
            _log.info("mcp.listen_ended", server=self._name, error=_describe(e))
        if not started:
            task_status.started()  # no subscription: the tools are still listed and usable

    # ------------------------------------------------------------------ requests

    async def _connection(self) -> _Connection:
        for _ in range(self._connect_attempts):
            self._check_open()
            live = self._live
            if live is not None and not live.dropped.is_set():
                return live
            attempted = self._attempted
            self._wanted.set()
            await attempted.wait()
        self._check_open()
        live = self._live
        if live is not None and not live.dropped.is_set():
            return live
        raise MCPConnectionError(
            f"MCP server {self._name!r} is unavailable after {self._connect_attempts} "
            f"connection attempts: {self._last_error}"
        )

    async def _request(
        self,
        what: str,
        send: Callable[[Client], Awaitable[_T]],
        *,
        limit: float | None = None,
        repeatable: bool = True,
    ) -> _T:
        """Send one request; a repeatable one is sent once more after a lost connection."""
        for attempt in (1, 2):
            live = await self._connection()
            seconds = self._request_timeout if limit is None else limit
            try:
                with anyio.fail_after(seconds):
                    return await send(live.client)
            except TimeoutError:
                raise MCPConnectionError(
                    f"MCP server {self._name!r} did not answer {what} within {seconds:g} s"
                ) from None
            except SDKError as exc:
                if exc.code != CONNECTION_CLOSED:
                    raise MCPError(
                        f"MCP server {self._name!r} refused {what}: {_describe(exc)}",
                        code=exc.code,
                    ) from None
                lost: BaseException = exc
            except _BROKEN as exc:
                lost = exc
            live.dropped.set()
            _log.warning("mcp.connection_lost", server=self._name, error=_describe(lost))
            if not repeatable or attempt == 2:
                raise MCPConnectionError(
                    f"the connection to MCP server {self._name!r} was lost during {what}; "
                    "it reconnects on the next request"
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _call_tool(self, mcp_name: str, arguments: dict[str, Any]) -> ToolResult:
        async def send(client: Client) -> mt.CallToolResult:
            return await client.call_tool(mcp_name, arguments)

        try:
            result = await self._request(
                f"the call of {mcp_name!r}", send, limit=self._call_timeout, repeatable=False
            )
        except MCPError as exc:
            return ToolResult(str(exc), is_error=True)
        return ToolResult(tool_result_content(result), is_error=bool(result.is_error))

    async def _list_tools(self, client: Client) -> tuple[Tool, ...]:
        listed: list[mt.Tool] = []
        cursor: str | None = None
        for _ in range(_MAX_PAGES):
            page = await client.list_tools(cursor=cursor)
            listed.extend(page.tools)
            cursor = page.next_cursor
            if cursor is None:
                break
        tools: dict[str, Tool] = {}
        for spec in listed:
            if spec.name in self._deny or (
                self._allow is not None and spec.name not in self._allow
            ):
                continue
            exposed = _safe_name(spec.name)
            if exposed in tools:
                raise MCPError(
                    f"MCP server {self._name!r} lists more than one tool named {exposed!r} "
                    "(after replacing characters tool names cannot hold); deny one of them"
                )
            tools[exposed] = self._tool(spec, exposed)
        return tuple(tools[n] for n in sorted(tools))

    def _tool(self, spec: mt.Tool, exposed: str) -> Tool:
        mcp_name = spec.name

        async def handler(arguments: dict[str, Any], context: ToolContext) -> ToolResult:
            return await self._call_tool(mcp_name, arguments)

        try:
            return Tool.from_schema(
                exposed,
                spec.description or spec.title or "",
                jsonable(spec.input_schema),
                handler,
            )
        except (ToolDefinitionError, ValueError) as exc:
            raise MCPError(
                f"MCP server {self._name!r}: tool {mcp_name!r} cannot be used ({exc}); "
                f"deny it with deny=[{mcp_name!r}]"
            ) from None

    # ------------------------------------------------------------------ resources and prompts

    async def _pages(
        self, what: str, fetch: Callable[[Client, str | None], Awaitable[Any]]
    ) -> list[Any]:
        items: list[Any] = []
        cursor: str | None = None
        for _ in range(_MAX_PAGES):
            page_cursor = cursor

            async def send(client: Client, c: str | None = page_cursor) -> Any:
                return await fetch(client, c)

            page = await self._request(what, send)
            items.append(page)
            cursor = page.next_cursor
            if cursor is None:
                break
        return items

    async def list_resources(self) -> tuple[Resource, ...]:
        """The resources the server lists, in its order."""
        pages = await self._pages(
            "resources/list", lambda c, cursor: c.list_resources(cursor=cursor)
        )
        return tuple(resource_from(r) for page in pages for r in page.resources)

    async def list_resource_templates(self) -> tuple[ResourceTemplate, ...]:
        """The resource templates the server lists; fill one in with ``template.uri(...)``."""
        pages = await self._pages(
            "resources/templates/list",
            lambda c, cursor: c.list_resource_templates(cursor=cursor),
        )
        return tuple(template_from(r) for page in pages for r in page.resource_templates)

    async def read_resource(self, uri: str) -> tuple[UserContent, ...]:
        """A resource's contents as text and image blocks, ready for a user message.

        Raises :class:`MCPError` for binary contents other than images.
        """
        if not isinstance(uri, str) or not uri:
            raise ValueError("uri must be a non-empty string")

        async def send(client: Client) -> mt.ReadResourceResult:
            return await client.read_resource(uri)

        return resource_blocks(await self._request(f"resources/read {uri!r}", send))

    async def list_prompts(self) -> tuple[Prompt, ...]:
        """The prompts the server offers, in its order."""
        pages = await self._pages("prompts/list", lambda c, cursor: c.list_prompts(cursor=cursor))
        return tuple(prompt_from(p) for page in pages for p in page.prompts)

    async def get_prompt(
        self, name: str, arguments: Mapping[str, str] | None = None
    ) -> tuple[UserMessage | AssistantMessage, ...]:
        """A prompt's messages, filled in with ``arguments``, ready to send to an agent."""
        values = dict(arguments or {})
        strays = sorted(k for k, v in values.items() if not isinstance(v, str))
        if strays:
            raise TypeError(f"prompt arguments must be strings: {', '.join(strays)}")

        async def send(client: Client) -> mt.GetPromptResult:
            return await client.get_prompt(name, values)

        return prompt_messages(name, await self._request(f"prompts/get {name!r}", send))


def mcp_tools(servers: Sequence[MCPServer], own: Sequence[Tool] = ()) -> tuple[Tool, ...]:
    """``own`` tools and the open ``servers``' current tools under the collision rule.

    For :class:`~agentkit.LoopConfig` users; an :class:`~agentkit.Agent` given
    ``mcp_servers=`` does this before every run.
    """
    return merge_tools(tuple(own), tuple(servers))

"""MCP tools as agentkit tools: results, names, filters, list changes; and the values."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentkit import Agent, ImageContent, TextContent, Tool, ToolDefinitionError, tool
from agentkit.mcp import MCPError, MCPServer, ResourceTemplate, mcp_tools
from agentkit.testing import ScriptedProvider
from tests.test_mcp.conftest import Leaks, call, context, fault_server, tools_changed

pytestmark = pytest.mark.anyio


async def test_results_are_mapped_and_names_sorted_and_made_valid(tmp_path: Path) -> None:
    with anyio.fail_after(15):
        async with fault_server(tmp_path) as server:
            names = [t.name for t in server.tools]
            assert names == ["echo", "grow", "mixed", "ns_shout", "oops", "picture", "struct"]
            assert (await call(server, "ns_shout", text="hi")).text == "HI"  # sent as ns.shout
            struct = await call(server, "struct")
            assert struct.content == (TextContent('{"a": 1, "b": 2}'),) and not struct.is_error
            (image,) = (await call(server, "picture")).content
            assert isinstance(image, ImageContent) and image.media_type == "image/png"
            oops = await call(server, "oops")
            assert oops.is_error and oops.text == "it went wrong"
            echo = {t.name: t for t in server.tools}["echo"]
            assert echo.validate({}) is not None  # the server's schema checks the model's call
            assert echo.definition.parameters == {
                "properties": {"text": {"type": "string"}},
                "required": ["text"],
                "type": "object",
            }


async def test_a_tools_list_changed_notification_refreshes_the_list(tmp_path: Path) -> None:
    with anyio.fail_after(15), tools_changed() as changed:
        async with fault_server(tmp_path) as server:
            assert "extra" not in [t.name for t in server.tools]
            assert (await call(server, "grow")).text == "grown"
            await changed.wait()
            assert [t.name for t in server.tools] == [
                "echo",
                "extra",
                "grow",
                "mixed",
                "ns_shout",
                "oops",
                "picture",
                "struct",
            ]


async def test_allow_and_deny_filter_by_the_servers_names(tmp_path: Path) -> None:
    with anyio.fail_after(15):
        allowed = fault_server(tmp_path, allow=["echo", "ns.shout", "absent"])
        async with allowed, fault_server(tmp_path, name="other", deny=["echo", "oops"]) as denied:
            assert [t.name for t in allowed.tools] == ["echo", "ns_shout"]
            assert [t.name for t in denied.tools] == [
                "grow",
                "mixed",
                "ns_shout",
                "picture",
                "struct",
            ]


async def test_colliding_names_get_their_servers_prefix_and_own_tools_keep_theirs(
    tmp_path: Path,
) -> None:
    @tool
    def echo(text: str) -> str:
        """The agent's own echo."""
        return text

    with anyio.fail_after(15):
        first = fault_server(tmp_path, name="one", allow=["echo", "ns.shout", "oops"])
        second = fault_server(tmp_path, name="two", allow=["echo", "picture"])
        async with first, second:
            agent = Agent(
                provider=ScriptedProvider([]),
                model="m",
                tools=[echo],
                mcp_servers=[first, second],
            )
            names = [t.name for t in agent.tools]
            assert names == ["echo", "one_echo", "ns_shout", "oops", "two_echo", "picture"]
            assert names == [t.name for t in mcp_tools([first, second], own=[echo])]
            by_name = {t.name: t for t in agent.tools}
            assert by_name["one_echo"].definition.name == "one_echo"
            result = await by_name["two_echo"].execute({"text": "x"}, context())
            assert result.text == "x"  # the server still gets its own name, echo


async def test_a_run_with_an_unopened_server_fails_at_once_naming_it(tmp_path: Path) -> None:
    server = fault_server(tmp_path, name="later")
    agent = Agent(provider=ScriptedProvider([]), model="m", mcp_servers=[server])
    with pytest.raises(MCPError, match="MCP server 'later' is not open"):
        agent.prompt("hi")
    with anyio.fail_after(10):
        async with server:
            pass
    with pytest.raises(MCPError, match="can be opened once"):
        async with server:
            pass


async def test_two_servers_with_one_name_are_refused(tmp_path: Path) -> None:
    with anyio.fail_after(15):
        async with fault_server(tmp_path) as a, fault_server(tmp_path) as b:
            with pytest.raises(ToolDefinitionError, match="more than one tool source is named"):
                mcp_tools([a, b])


def test_bad_options_are_typed_errors_naming_the_option() -> None:
    with pytest.raises(ToolDefinitionError, match="server name"):
        MCPServer.stdio("x", name="has space")
    with pytest.raises(ValueError, match="call_timeout"):
        MCPServer.stdio("x", call_timeout=0)
    with pytest.raises(ValueError, match="connect_attempts"):
        MCPServer.stdio("x", connect_attempts=0)
    with pytest.raises(TypeError, match="args must be a sequence"):
        MCPServer.stdio("x", "--flag")
    with pytest.raises(TypeError, match="deny must be a collection"):
        MCPServer.stdio("x", deny="echo")
    with pytest.raises(ValueError, match="http:// or https://"):
        MCPServer.http("ftp://example.com")
    assert MCPServer.stdio(sys.executable, ["-m", "mcp_server_time"]).name == "mcp_server_time"
    assert MCPServer.http("http://127.0.0.1:9/mcp").name == "127_0_0_1"


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"name": "ns_shout", "inputSchema": {"type": "object"}}, "more than one tool named"),
        (
            {"name": "odd", "inputSchema": {"type": "object", "properties": {"x": {"type": 7}}}},
            "'odd' cannot be used .*invalid JSON schema.*deny it with deny=\\['odd'\\]",
        ),
    ],
)
async def test_a_tool_agentkit_cannot_use_names_it_and_deny_is_the_fix(
    tmp_path: Path, extra: dict[str, object], problem: str
) -> None:
    env = {"FAULT_EXTRA_TOOLS": json.dumps([extra])}
    leaks = Leaks()
    with anyio.fail_after(10):
        with pytest.raises(MCPError, match=problem):
            async with fault_server(tmp_path, env=env):
                pytest.fail("opened")
        name = str(extra["name"])
        async with fault_server(tmp_path, env=env, deny=[name]) as server:
            assert len(server.tools) == 7  # the server's own seven, the extra one denied
    leaks.check()


def test_importing_agentkit_does_not_import_mcp() -> None:
    code = "import sys, agentkit, agentkit.testing; assert 'mcp' not in sys.modules, 'mcp'"
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- values


async def test_content_that_messages_cannot_hold_becomes_a_note(tmp_path: Path) -> None:
    with anyio.fail_after(10):
        async with fault_server(tmp_path) as server:
            mixed = await call(server, "mixed")
            assert mixed.content == (
                TextContent("[audio (audio/wav) not shown]"),
                TextContent("[resource file:///a (a): A]"),
                TextContent("inline"),
                TextContent("[binary resource file:///b (x/y) not shown]"),
            )
            with pytest.raises(MCPError, match="prompt 'draw': message 1 is the assistant's"):
                await server.get_prompt("draw")


def test_template_errors_name_missing_and_unknown_variables() -> None:
    template = ResourceTemplate("repo://{owner}/{name}{#part}", "repo")
    assert template.variables == ("owner", "name", "part")
    assert template.uri(owner="a", name="b c", part="x/y") == "repo://a/b%20c#x/y"
    with pytest.raises(MCPError, match="missing name; unknown extra"):
        template.uri(owner="a", part="p", extra="z")


@given(st.text(min_size=1, max_size=20), st.text(max_size=20))
def test_template_expansion_round_trips(owner: str, name: str) -> None:
    from urllib.parse import unquote

    uri = ResourceTemplate("x://{owner}/{name}", "x").uri(owner=owner, name=name)
    head, tail = uri.removeprefix("x://").split("/")
    assert (unquote(head), unquote(tail)) == (owner, name)


# --------------------------------------------------------------------------- the naming rule

NAMES = st.sampled_from(["a", "b", "c", "d", "e"])


class _Source:
    def __init__(self, name: str, tools: tuple[Tool, ...]) -> None:
        self.name = name
        self.tools = tools


def _tool(name: str) -> Tool:
    async def handler(arguments: dict[str, object], context: object) -> str:
        return name

    return Tool.from_schema(name, "", {"type": "object"}, handler)


@given(
    st.lists(NAMES, unique=True, max_size=3),
    st.lists(st.lists(NAMES, unique=True, max_size=4), max_size=3),
)
def test_merged_names_are_unique_own_names_kept_and_order_fixed(
    own: list[str], lent: list[list[str]]
) -> None:
    sources = [
        _Source(f"s{i}", tuple(_tool(n) for n in sorted(names))) for i, names in enumerate(lent)
    ]
    merged = mcp_tools(sources, own=[_tool(n) for n in own])  # type: ignore[arg-type]
    names = [t.name for t in merged]
    assert len(names) == len(set(names))
    assert names[: len(own)] == own
    expected = list(own)
    everywhere = own + [n for names in lent for n in names]
    for source, source_names in zip(sources, lent, strict=True):
        for n in sorted(source_names):
            expected.append(f"{source.name}_{n}" if everywhere.count(n) > 1 else n)
    assert names == expected
    assert [t.name for t in mcp_tools(sources, [_tool(n) for n in own])] == names  # type: ignore[arg-type]
    for t in merged:
        assert t.definition.name == t.name

"""Text entering a message is always encodable: lone surrogates become U+FFFD, with a log."""

from __future__ import annotations

import json
import os
import re
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from agentkit._messages import (
    AssistantMessage,
    Context,
    ImageContent,
    TextContent,
    ThinkingContent,
    ToolCall,
    ToolDefinition,
    ToolResultMessage,
    UserMessage,
    message_from_dict,
)
from agentkit._tools import ToolContext, tool

SURROGATE = re.compile("[\ud800-\udfff]")
BAD_NAME = os.fsdecode(b"report-\xff.txt")  # what os.listdir gives for a non-UTF-8 name


def replaced_events(logs: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(e["where"], e["count"]) for e in logs if e["event"] == "messages.surrogates_replaced"]


def test_a_non_utf8_file_name_is_the_case_in_point() -> None:
    assert SURROGATE.search(BAD_NAME)
    with pytest.raises(UnicodeEncodeError):
        BAD_NAME.encode("utf-8")


@pytest.mark.parametrize(
    ("build", "where", "read"),
    [
        (TextContent, "TextContent.text", lambda v: v.text),
        (ThinkingContent, "ThinkingContent.thinking", lambda v: v.thinking),
        (lambda t: ThinkingContent("x", t), "ThinkingContent.signature", lambda v: v.signature),
        (lambda t: ImageContent(t, "image/png"), "ImageContent.data", lambda v: v.data),
        (lambda t: ToolCall(t, "ls"), "ToolCall.id", lambda v: v.id),
        (lambda t: ToolCall("c", t), "ToolCall.name", lambda v: v.name),
        (
            lambda t: ToolCall("c", "ls", {}, t),
            "ToolCall.arguments_error",
            lambda v: v.arguments_error,
        ),
        (
            lambda t: ToolCall("c", "ls", {"path": t}),
            "ToolCall.arguments",
            lambda v: v.arguments["path"],
        ),
        (
            lambda t: ToolCall("c", "ls", {t: 1}),
            "ToolCall.arguments",
            lambda v: next(iter(v.arguments)),
        ),
        (
            lambda t: ToolResultMessage(t, "ls", "ok"),
            "ToolResultMessage.tool_call_id",
            lambda v: v.tool_call_id,
        ),
        (
            lambda t: ToolResultMessage("c", t, "ok"),
            "ToolResultMessage.tool_name",
            lambda v: v.tool_name,
        ),
        (lambda t: AssistantMessage((), model=t), "AssistantMessage.model", lambda v: v.model),
        (
            lambda t: AssistantMessage((), error_message=t),
            "AssistantMessage.error_message",
            lambda v: v.error_message,
        ),
        (
            lambda t: AssistantMessage((), response_id=t),
            "AssistantMessage.response_id",
            lambda v: v.response_id,
        ),
        (
            lambda t: AssistantMessage((), provider_data={"details": [{"text": t}]}),
            "AssistantMessage.provider_data",
            lambda v: v.provider_data["details"][0]["text"],
        ),
        (lambda t: ToolDefinition("ls", t), "ToolDefinition.description", lambda v: v.description),
    ],
)
def test_every_text_field_replaces_lone_surrogates_and_says_where(
    build: Any, where: str, read: Any
) -> None:
    with capture_logs() as logs:
        value = build(BAD_NAME)
    assert read(value) == "report-\ufffd.txt"
    assert replaced_events(logs) == [(where, 1)]
    assert [e["log_level"] for e in logs] == ["warning"]
    with capture_logs() as logs:
        assert read(build("report-\u00e9.txt")) == "report-\u00e9.txt", "good text is kept"
    assert logs == []


def test_a_split_pair_is_joined_into_its_character_and_lone_halves_are_counted() -> None:
    with capture_logs() as logs:
        block = TextContent("a\ud83d\ude00b \ud83d \ude00\ud83d")
    assert block.text == "a\U0001f600b \ufffd \ufffd\ufffd"
    [event] = [e for e in logs if e["event"] == "messages.surrogates_replaced"]
    assert (event["count"], event["joined"]) == (3, 1)


def test_arguments_json_with_half_an_escape_pair_is_cleaned_deeply() -> None:
    arguments = json.loads('{"a": ["\\ud800", {"\\udfff": "ok"}], "b": "\\ud83d\\ude00"}')
    with capture_logs() as logs:
        call = ToolCall("c", "ls", arguments)
    assert call.arguments == {"a": ["\ufffd", {"\ufffd": "ok"}], "b": "\U0001f600"}
    assert replaced_events(logs) == [("ToolCall.arguments", 2)]
    assert arguments["a"][0] == "\ud800", "the caller's dict is not changed"


def test_clean_arguments_stay_the_same_object_and_deep_nesting_is_fine() -> None:
    arguments: dict[str, Any] = {"deep": []}
    inner = arguments["deep"]
    for _ in range(50_000):  # deeper than any recursion limit
        inner.append([])
        inner = inner[0]
    assert ToolCall("c", "ls", arguments).arguments is arguments
    inner.append("\udcff")
    cleaned = ToolCall("c", "ls", arguments).arguments
    leaf = cleaned["deep"]
    for _ in range(50_000):
        leaf = leaf[0]
    assert leaf == ["\ufffd"]


def test_a_string_field_given_another_type_is_a_type_error_naming_it() -> None:
    with pytest.raises(TypeError, match=r"TextContent\.text must be a str, got bytes"):
        TextContent(b"raw")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"ToolCall\.id must be a str, got int"):
        ToolCall(7, "ls")  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_a_tool_returning_a_non_utf8_file_name_gives_an_encodable_result() -> None:
    @tool
    def listdir() -> list[str]:
        """List a directory."""
        return [BAD_NAME, "ok.txt"]

    @tool
    def first() -> str:
        """The first entry."""
        return BAD_NAME

    async def no_reports(_: str) -> None:
        pass

    with anyio.fail_after(10), capture_logs() as logs:
        as_json = await listdir.execute({}, ToolContext(ToolCall("c1", "listdir"), no_reports))
        as_text = await first.execute({}, ToolContext(ToolCall("c2", "first"), no_reports))
    assert json.loads(as_json.text) == ["report-\ufffd.txt", "ok.txt"]
    assert as_text.text == "report-\ufffd.txt"
    events = [e for e in logs if e["event"] == "messages.surrogates_replaced"]
    assert [(e["where"], e.get("tool"), e["count"]) for e in events] == [
        ("tool result", "listdir", 1),
        ("tool result", "first", 1),
    ]
    message = ToolResultMessage("c1", "listdir", as_json.content)
    message.to_dict()
    json.dumps(message.to_dict(), ensure_ascii=False).encode("utf-8")


# --------------------------------------------------------------------------- properties

# Any code point, surrogates included (hypothesis leaves them out of text() by default).
any_char = st.one_of(st.characters(), st.characters(categories=["Cs"]))
any_text = st.lists(any_char, max_size=30).map("".join)
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), any_text)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(any_text, inner, max_size=3)
    ),
    max_leaves=8,
)
json_object = st.dictionaries(any_text, json_value, max_size=3)
user_blocks = st.one_of(
    st.builds(TextContent, any_text), st.builds(ImageContent, any_text, any_text)
)


@st.composite
def assistant_messages(draw: st.DrawFn) -> AssistantMessage:
    content: list[Any] = []
    for n, kind in enumerate(draw(st.lists(st.sampled_from("ttc"), max_size=4))):
        if kind == "t":
            content.append(TextContent(draw(any_text)))
        elif draw(st.booleans()):
            content.append(ThinkingContent(draw(any_text), draw(st.none() | any_text)))
        else:
            error = draw(st.none() | any_text)
            content.append(ToolCall(f"call_{n}", draw(any_text), draw(json_object), error))
    return AssistantMessage(
        tuple(content),
        model=draw(any_text),
        provider=draw(any_text),
        response_id=draw(st.none() | any_text),
        error_message=draw(st.none() | any_text),
        provider_data=draw(st.none() | json_object),
    )


messages = st.one_of(
    st.builds(UserMessage, st.lists(user_blocks, max_size=3)),
    assistant_messages(),
    st.builds(
        ToolResultMessage, any_text, any_text, st.lists(user_blocks, max_size=2), st.booleans()
    ),
)


def saved_and_loaded(data: Any) -> Any:
    wire = json.dumps(data, allow_nan=False, ensure_ascii=False).encode("utf-8")
    return json.loads(wire.decode("utf-8"))


@settings(max_examples=300, deadline=None)
@given(messages)
def test_any_message_is_strict_utf8_json_and_loads_back_equal(message: Any) -> None:
    with capture_logs():
        loaded = message_from_dict(saved_and_loaded(message.to_dict()))
    assert loaded == message
    assert loaded.to_dict() == message.to_dict()


def expected_text(text: str) -> tuple[str, int, int]:
    """The rule, written out: join high+low pairs, replace every other surrogate."""
    out: list[str] = []
    replaced = joined = 0
    i = 0
    while i < len(text):
        char = text[i]
        following = text[i + 1] if i + 1 < len(text) else ""
        if "\ud800" <= char <= "\udbff" and "\udc00" <= following <= "\udfff":
            out.append(chr(0x10000 + ((ord(char) - 0xD800) << 10) + (ord(following) - 0xDC00)))
            joined += 1
            i += 2
            continue
        if "\ud800" <= char <= "\udfff":
            out.append("\ufffd")
            replaced += 1
        else:
            out.append(char)
        i += 1
    return "".join(out), replaced, joined


@settings(max_examples=300, deadline=None)
@given(any_text)
def test_text_is_kept_except_for_its_surrogates(text: str) -> None:
    with capture_logs() as logs:
        block = TextContent(text)
    expected, replaced, joined = expected_text(text)
    assert block.text == expected
    block.text.encode("utf-8")
    if replaced or joined:
        [event] = logs
        assert (event["where"], event["count"], event["joined"]) == (
            "TextContent.text",
            replaced,
            joined,
        )
    else:
        assert logs == []


@settings(max_examples=100, deadline=None)
@given(st.lists(user_blocks, max_size=3), st.lists(messages, max_size=4))
def test_any_context_can_be_sent_as_utf8(system: list[TextContent], history: list[Any]) -> None:
    with capture_logs():
        context = Context(
            [b for b in system if isinstance(b, TextContent)],
            tuple(history),
            (ToolDefinition("ls", "list \udcff files"),),
        )
        encoded = json.dumps(context.to_dict(), ensure_ascii=False, allow_nan=False)
    encoded.encode("utf-8")
    assert Context.from_dict(json.loads(encoded)) == context

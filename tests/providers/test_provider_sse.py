"""The incremental SSE decoder: framing rules, split input, bad input."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from provider_helpers import FIXTURES, fixture_bytes, split

from agentkit.providers._errors import ResponseFormatError, SSEDecodeError
from agentkit.providers._sse import ServerSentEvent, SSEDecoder, loads_data


def decode(chunks: list[bytes], **kwargs: int) -> list[ServerSentEvent]:
    decoder = SSEDecoder(**kwargs)
    events: list[ServerSentEvent] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    events.extend(decoder.close())
    return events


def test_data_event_and_done() -> None:
    events = decode([b'data: {"a":1}\n\ndata: [DONE]\n\n'])
    assert events == [ServerSentEvent("message", '{"a":1}'), ServerSentEvent("message", "[DONE]")]


def test_comments_and_named_events_and_pings() -> None:
    raw = (
        b": OPENROUTER PROCESSING\n\n"
        b'event: ping\ndata: {"type": "ping"}\n\n'
        b":another comment\n"
        b"event: message_stop\ndata: {}\n\n"
    )
    assert decode([raw]) == [
        ServerSentEvent("ping", '{"type": "ping"}'),
        ServerSentEvent("message_stop", "{}"),
    ]


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending(newline: bytes) -> None:
    raw = newline.join([b"event: a", b"data: 1", b"", b"data: 2", b"", b""])
    assert decode([raw]) == [ServerSentEvent("a", "1"), ServerSentEvent("message", "2")]


def test_crlf_split_between_chunks_is_one_line_end() -> None:
    assert decode([b"data: x\r", b"\n\r", b"\n"]) == [ServerSentEvent("message", "x")]


def test_cr_at_chunk_end_dispatches_without_waiting() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x\r\r") == [ServerSentEvent("message", "x")]
    assert decoder.feed(b"\ndata: y\n\n") == [ServerSentEvent("message", "y")]


def test_multi_line_data_joins_with_newline() -> None:
    assert decode([b"data: a\ndata:b\ndata:  c\n\n"]) == [ServerSentEvent("message", "a\nb\n c")]


def test_field_without_colon_and_unknown_fields() -> None:
    # "data" alone is a data field with an empty value; "foo" is ignored.
    assert decode([b"data\nfoo: bar\ndata: x\n\n"]) == [ServerSentEvent("message", "\nx")]


def test_event_without_data_is_not_dispatched() -> None:
    assert decode([b"event: lonely\n\ndata: x\n\n"]) == [ServerSentEvent("message", "x")]


def test_id_and_retry() -> None:
    events = decode(
        [b"id: 7\nretry: 1500\ndata: x\n\ndata: y\n\nid: a\0b\nretry: soon\ndata: z\n\n"]
    )
    assert events == [
        ServerSentEvent("message", "x", "7", 1500),
        ServerSentEvent("message", "y", "7", None),
        ServerSentEvent("message", "z", "7", None),  # ids with NUL are ignored
    ]


def test_utf8_split_inside_a_character() -> None:
    raw = "data: 22°C ÷ 5 😀\n\n".encode()
    cut = raw.index("😀".encode()) + 2
    assert decode([raw[:cut], raw[cut:]]) == [ServerSentEvent("message", "22°C ÷ 5 😀")]


def test_bom_is_dropped() -> None:
    assert decode([b"\xef\xbb", b"\xbfdata: x\n\n"]) == [ServerSentEvent("message", "x")]


def test_final_event_without_blank_line_is_dispatched_at_close() -> None:
    assert decode([b"data: x\n\ndata: last"]) == [
        ServerSentEvent("message", "x"),
        ServerSentEvent("message", "last"),
    ]


def test_invalid_utf8_is_a_typed_error() -> None:
    with pytest.raises(SSEDecodeError, match="not valid UTF-8"):
        decode([b"data: \xff\n\n"])


def test_truncated_utf8_at_close_is_a_typed_error() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"data: \xe2\x82")
    with pytest.raises(SSEDecodeError, match="inside a UTF-8 character"):
        decoder.close()


def test_oversized_line_is_a_typed_error() -> None:
    decoder = SSEDecoder(max_event_size=100)
    with pytest.raises(SSEDecodeError, match="exceeds 100"):
        for _ in range(20):
            decoder.feed(b"data: " + b"x" * 10)


def test_oversized_event_is_a_typed_error() -> None:
    with pytest.raises(SSEDecodeError, match="exceeds 50"):
        decode([b"data: 0123456789\n" * 10], max_event_size=50)


def test_sse_decode_error_is_a_response_format_error() -> None:
    assert issubclass(SSEDecodeError, ResponseFormatError)


STREAMS = sorted(p.name for p in FIXTURES.iterdir() if p.suffix in (".sse", ".jsonl"))


@pytest.mark.parametrize("name", STREAMS)
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_fixture_split_anywhere_gives_the_same_events(name: str, data: st.DataObject) -> None:
    raw = fixture_bytes(name)
    cuts = data.draw(st.lists(st.integers(1, len(raw) - 1), max_size=60))
    assert decode(split(raw, cuts)) == decode([raw])


SSE_ALPHABET = st.sampled_from(
    [
        *(b"data:", b"data: ", b"event: x", b"id: 1", b"retry: 5", b":", b"\r", b"\n", b"\r\n"),
        *(b"a", b" ", b"\xc3\xa9", b"{}", b"\xf0\x9f\x98\x80"),
    ]
)


@settings(max_examples=200, deadline=None)
@given(parts=st.lists(SSE_ALPHABET, max_size=40), cuts=st.lists(st.integers(1, 400)))
def test_well_formed_utf8_split_anywhere_gives_the_same_events(
    parts: list[bytes], cuts: list[int]
) -> None:
    raw = b"".join(parts)
    assert decode(split(raw, cuts)) == decode([raw])


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=300), cuts=st.lists(st.integers(1, 300)))
def test_arbitrary_bytes_only_raise_typed_errors(raw: bytes, cuts: list[int]) -> None:
    try:
        whole = decode([raw])
    except SSEDecodeError:
        whole = None
    try:
        pieces = decode(split(raw, cuts))
    except SSEDecodeError:
        pieces = None
    assert pieces == whole


def _json_answer(text: str) -> tuple[str, object]:
    try:
        return ("value", json.loads(text))
    except ValueError as exc:
        return ("error", str(exc))


def _fast_answer(text: str) -> tuple[str, object]:
    try:
        return ("value", loads_data(text))
    except ValueError as exc:
        return ("error", str(exc))


JSON_ALPHABET = st.sampled_from(
    [
        *('{"a":', "[", "]", "{", "}", ",", ":", '"x"', "1", "-0.5e3", " ", "\n", "\t"),
        *("null", "true", "NaN", "Infinity", '"\\u00e9"', '"\\ud83d"', "\ufeff", "x", '"'),
    ]
)


@settings(max_examples=500, deadline=None)
@given(parts=st.lists(JSON_ALPHABET, max_size=20))
def test_loads_data_is_json_loads(parts: list[str]) -> None:
    # The fast path gives json.loads's value, or fails with json.loads's own error.
    text = "".join(parts)
    assert repr(_fast_answer(text)) == repr(_json_answer(text))


@pytest.mark.parametrize("name", STREAMS)
def test_loads_data_parses_every_fixture_event_as_json_loads(name: str) -> None:
    for event in decode([fixture_bytes(name)]):
        if event.data != "[DONE]":
            assert repr(_fast_answer(event.data)) == repr(_json_answer(event.data))

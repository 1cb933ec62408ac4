"""Anthropic's streaming Messages API (``POST {base_url}/v1/messages``).

Requests: the system prompt as an array of text blocks; content always as
arrays of blocks; cache markers on the block that carries them (text, image,
``tool_use``, ``tool_result`` when any of its content is marked, ``tools[]``
entries, system blocks; never on thinking, which the API rejects).
Consecutive tool results become one user message. Thinking goes back with
its signature; thinking without a signature (from another provider) is
dropped, since the API would reject it. No ``anthropic-beta`` header is sent.

Reasoning: ``ReasoningOptions(budget_tokens=N)`` becomes
``thinking: {"type": "enabled", "budget_tokens": N}`` (Claude 4.6 and
earlier); ``effort`` becomes ``thinking: {"type": "adaptive"}`` with
``output_config: {"effort": ...}`` (Claude 4.6 and later; ``minimal`` is
sent as ``low``).

Native structured output: ``ModelOptions.output_schema`` becomes
``output_config: {"format": {"type": "json_schema", "schema": ...}}`` (next to
``effort``), for the models that have it: Claude 4.5 and later
(:func:`claude_json_output`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import httpx

from agentkit._events import AssistantEvent
from agentkit._json import canonical_json
from agentkit._log import get_logger
from agentkit._messages import (
    AssistantMessage,
    CacheControl,
    Context,
    StopReason,
    TextContent,
    ThinkingContent,
    ToolResultMessage,
    Usage,
    UserContent,
    UserMessage,
)
from agentkit._models import model_key
from agentkit._stream import EventStream
from agentkit.providers._base import (
    AnswerOut,
    AssistantMessageBuilder,
    AssistantStream,
    ModelOptions,
)
from agentkit.providers._errors import (
    ProviderConnectionError,
    ResponseFormatError,
    midstream_error,
)
from agentkit.providers._http import HTTPProviderBase, RetryPolicy, SSEReader, Timeouts
from agentkit.providers._openai_compat import env_key
from agentkit.providers._openai_format import as_text
from agentkit.providers._sse import ServerSentEvent, loads_data
from agentkit.providers._usage import anthropic_usage, partial_usage
from agentkit.transforms._caching import MAX_BREAKPOINTS, count_breakpoints

__all__ = [
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_VERSION",
    "DEFAULT_MAX_TOKENS",
    "AnthropicProvider",
    "build_messages",
    "claude_json_output",
]

ANTHROPIC_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"
#: ``max_tokens`` when the options give none (the API requires one); with a
#: thinking budget the default is the budget plus this.
DEFAULT_MAX_TOKENS = 8192

_log = get_logger("agentkit.providers")

_STOP = {
    "end_turn": StopReason.STOP,
    "stop_sequence": StopReason.STOP,
    "pause_turn": StopReason.STOP,
    "max_tokens": StopReason.LENGTH,
    "model_context_window_exceeded": StopReason.LENGTH,
    "tool_use": StopReason.TOOL_USE,
    "refusal": StopReason.REFUSAL,
}


_VERSION = re.compile(r"^claude-[a-z]+-([0-9]+)(?:\.([0-9]+))?")


def claude_json_output(model: str) -> bool:
    """Whether the Claude ``model`` (any spelling) has native JSON output: 4.5 and later.

    Anthropic's structured outputs are generally available for Claude Opus,
    Sonnet and Haiku 4.5 and every later model.
    """
    match = _VERSION.match(model_key(model))
    if match is None:
        return False
    return (int(match.group(1)), int(match.group(2) or 0)) >= (4, 5)


def _marked(block: dict[str, Any], cache: CacheControl | None) -> dict[str, Any]:
    if cache is not None:
        block["cache_control"] = {"type": "ephemeral", "ttl": cache.ttl}
    return block


def _user_block(block: UserContent, *, markers: bool = True) -> dict[str, Any]:
    cache = block.cache_control if markers else None
    if isinstance(block, TextContent):
        return _marked({"type": "text", "text": block.text}, cache)
    source = {"type": "base64", "media_type": block.media_type, "data": block.data}
    return _marked({"type": "image", "source": source}, cache)


def _assistant_blocks(message: AssistantMessage) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for block in message.content:
        if isinstance(block, ThinkingContent):
            if block.redacted:
                blocks.append({"type": "redacted_thinking", "data": block.thinking})
            elif block.signature:
                blocks.append(
                    {"type": "thinking", "thinking": block.thinking, "signature": block.signature}
                )
        elif isinstance(block, TextContent):
            if block.text:
                blocks.append(_marked({"type": "text", "text": block.text}, block.cache_control))
        else:
            tool_use: dict[str, Any] = {
                "type": "tool_use",
                "id": block.id,
                "name": block.name,
                "input": block.arguments,
            }
            blocks.append(_marked(tool_use, block.cache_control))
    return blocks


def _tool_result(message: ToolResultMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.tool_call_id}
    if message.content:
        out["content"] = [_user_block(b, markers=False) for b in message.content]
    if message.is_error:
        out["is_error"] = True
    marks = [b.cache_control for b in message.content if b.cache_control is not None]
    return _marked(out, marks[-1] if marks else None)


CACHE_DIAGNOSIS_BETA = "cache-diagnosis-2026-04-07"


def _previous_message_id(context: Context, provider: str) -> str | None:
    """The id of the newest answer from ``provider`` in ``context``: what diagnostics
    compare with (None on the first turn, which opts in without a comparison)."""
    for message in reversed(context.messages):
        if isinstance(message, AssistantMessage) and message.provider == provider:
            return message.response_id
    return None


def build_messages(context: Context) -> list[dict[str, Any]]:
    """The ``messages`` array for ``context``."""
    out: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for message in context.messages:
        if isinstance(message, ToolResultMessage):
            results.append(_tool_result(message))
            continue
        if results:
            out.append({"role": "user", "content": results})
            results = []
        if isinstance(message, UserMessage):
            out.append({"role": "user", "content": [_user_block(b) for b in message.content]})
        elif message.stop_reason is not StopReason.ERROR:
            blocks = _assistant_blocks(message)
            if blocks:
                out.append({"role": "assistant", "content": blocks})
    if results:
        out.append({"role": "user", "content": results})
    return out


class AnthropicProvider(HTTPProviderBase):
    """Streams from Anthropic (``api_key`` defaults to ``$ANTHROPIC_API_KEY``).

    ``client`` is an ``httpx.AsyncClient`` you own; without one the provider
    makes its own, closed by :meth:`aclose`. ``cache_diagnostics=True`` asks the
    service why a request missed the cache (``AssistantMessage.cache_miss_reason``);
    ``automatic_caching=True`` adds the top-level ``cache_control`` field, so the
    API marks the last cacheable block itself (Claude API, not Bedrock).
    """

    name = "anthropic"
    _key_variable = "ANTHROPIC_API_KEY"
    _key_header = ("x-api-key", "")

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str = ANTHROPIC_BASE_URL,
        client: httpx.AsyncClient | None = None,
        headers: Mapping[str, str] | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        allow_insecure_http: bool = False,
        cache_diagnostics: bool = False,
        automatic_caching: bool = False,
    ) -> None:
        super().__init__(
            api_key=api_key if api_key is not None else env_key("ANTHROPIC_API_KEY"),
            base_url=base_url,
            client=client,
            timeouts=timeouts,
            retry=retry,
            allow_insecure_http=allow_insecure_http,
        )
        self._extra_headers = dict(headers or {})
        self.cache_diagnostics = cache_diagnostics
        self.automatic_caching = automatic_caching

    def supports_native_output(self, model: str) -> bool:
        """Whether ``model`` takes ``ModelOptions.output_schema`` (Claude 4.5 and later)."""
        return claude_json_output(model)

    def _headers(self) -> dict[str, str]:
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream",
            "anthropic-version": ANTHROPIC_VERSION,
        }
        headers.update(self._extra_headers)
        if self.cache_diagnostics:
            betas = [b for b in headers.get("anthropic-beta", "").split(",") if b.strip()]
            headers["anthropic-beta"] = ",".join([*betas, CACHE_DIAGNOSIS_BETA])
        return headers  # the key is added by the auth flow, as late as possible

    def build_body(self, context: Context, options: ModelOptions) -> dict[str, Any]:
        """The JSON request body for ``context`` (public for inspection and tests)."""
        reasoning = options.reasoning
        budget = reasoning.budget_tokens if reasoning else None
        max_tokens = options.max_tokens
        if max_tokens is None:
            max_tokens = DEFAULT_MAX_TOKENS + (budget or 0)
        body: dict[str, Any] = {
            "model": options.model,
            "max_tokens": max_tokens,
            "messages": build_messages(context),
            "stream": True,
        }
        if context.system:
            body["system"] = [
                _marked({"type": "text", "text": b.text}, b.cache_control) for b in context.system
            ]
        if context.tools:
            body["tools"] = [
                _marked(
                    {"name": t.name, "description": t.description, "input_schema": t.parameters},
                    t.cache_control,
                )
                for t in context.tools
            ]
        if budget is not None:
            body["thinking"] = {"type": "enabled", "budget_tokens": budget}
        elif reasoning is not None and reasoning.effort is not None:
            effort = "low" if reasoning.effort == "minimal" else reasoning.effort
            body["thinking"] = {"type": "adaptive"}
            body["output_config"] = {"effort": effort}
        if options.output_schema is not None:
            output_format = {"type": "json_schema", "schema": options.output_schema}
            body.setdefault("output_config", {})["format"] = output_format
        if options.temperature is not None:
            body["temperature"] = options.temperature
        if options.stop:
            body["stop_sequences"] = list(options.stop)
        if self.automatic_caching and count_breakpoints(context) < MAX_BREAKPOINTS:
            # Top-level automatic caching (GA 2026-02-19): the API marks the last
            # cacheable block itself; it takes one of the 4 slots, hence the check.
            body["cache_control"] = {"type": "ephemeral"}
        if self.cache_diagnostics:
            previous = _previous_message_id(context, self.name)
            body["diagnostics"] = {"previous_message_id": previous}
        body.update(options.extra)
        return body

    def stream(self, context: Context, options: ModelOptions) -> AssistantStream:
        """A not-yet-started stream of the model's answer to ``context``."""

        async def produce(out: AnswerOut) -> None:
            self._check_key()
            body = canonical_json(self.build_body(context, options)).encode()

            async def consume(response: httpx.Response, reader: SSEReader) -> AssistantMessage:
                state = _StreamState(self, out, options)
                with state.builder.partial_on_cancel(out, state.usage_so_far):
                    return await state.run(reader)

            url = f"{self.base_url}/v1/messages"
            await self._post_stream(url, body, self._headers(), consume, out.end)

        return EventStream(produce, name=f"{self.name}:{options.model}")

    def _answer_events(self, answer: Any) -> list[ServerSentEvent] | None:
        """The events of a whole ``message`` object (a server that did not stream)."""
        if isinstance(answer, dict) and answer.get("error") and answer.get("type") != "message":
            return [
                ServerSentEvent("error", json.dumps({"type": "error", "error": answer["error"]}))
            ]
        if not isinstance(answer, dict) or answer.get("type") != "message":
            return None
        content = answer.get("content")
        if not isinstance(content, list):
            return None
        start = {key: value for key, value in answer.items() if key != "content"}
        frames: list[dict[str, Any]] = [
            {"type": "message_start", "message": {**start, "content": []}}
        ]
        for index, block in enumerate(content):
            tool = isinstance(block, dict) and block.get("type") == "tool_use"
            opened = {**block, "input": {}} if tool else block
            frames.append({"type": "content_block_start", "index": index, "content_block": opened})
            if tool:
                arguments = json.dumps(block.get("input") or {})
                delta = {"type": "input_json_delta", "partial_json": arguments}
                frames.append({"type": "content_block_delta", "index": index, "delta": delta})
            frames.append({"type": "content_block_stop", "index": index})
        stop = {"stop_reason": answer.get("stop_reason"), "stop_sequence": None}
        frames.append({"type": "message_delta", "delta": stop, "usage": answer.get("usage") or {}})
        frames.append({"type": "message_stop"})
        return [ServerSentEvent(f["type"], json.dumps(f)) for f in frames]


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


class _StreamState:
    """One answer's events, from ``message_start`` to ``message_stop``."""

    def __init__(self, provider: AnthropicProvider, out: AnswerOut, options: ModelOptions) -> None:
        self.provider = provider
        self.out = out
        self.builder = AssistantMessageBuilder(model=options.model, provider=provider.name)
        self.usage: dict[str, Any] = {}
        self.stop: str | None = None
        self.started = False
        self.done = False
        self.progressed = False  # a usage or stop event in the batch being handled
        self.skipped: set[Any] = set()  # blocks agentkit cannot represent (server tools...)

    def _error(self, message: str) -> ResponseFormatError:
        # The message quotes the service's data, which might echo the key.
        return ResponseFormatError(
            self.provider._redact(f"{self.provider.name}: {message}"),
            request_id=self.builder.response_id,
        )

    async def run(self, reader: SSEReader) -> AssistantMessage:
        events: list[AssistantEvent] = []
        async for batch in reader:
            # One network read's events go out together, and before any failure in it.
            try:
                self.handle_batch(batch, events)
            except Exception:
                await self.out.push_many(events)
                raise
            if events or self.progressed:
                reader.progress()  # pings and empty deltas do not count
                self.progressed = False
            await self.out.push_many(events)
            events.clear()
            if self.done:
                break
        if not self.done:
            raise ProviderConnectionError(
                f"{self.provider.name}: the stream ended before message_stop",
                request_id=self.builder.response_id,
                retryable=True,
            )
        await self.out.push_many(self.builder.close_blocks())
        reason = _STOP.get(self.stop or "end_turn")
        if reason is None:
            _log.warning("anthropic.unknown_stop_reason", stop_reason=self.stop)
            reason = StopReason.STOP
        usage = anthropic_usage(self.usage, model=self.builder.model)
        self.provider._price_notices.check(
            usage, model=self.builder.model, provider=self.provider.name
        )
        return self.builder.build(reason, usage)

    def usage_so_far(self) -> Usage:
        """What the service has counted so far: ``message_start``'s input and cache
        counts, updated by every ``message_delta``; marked partial."""
        if not self.usage:
            return partial_usage(None)
        # The output count arrives with the last message_delta; until then it is
        # estimated from the text and thinking received (about 4 characters a token).
        received = sum(
            len(getattr(block, "text", "") or getattr(block, "thinking", "") or "")
            for block in self.builder.partial(StopReason.ABORTED).content
        )
        estimate = -(-received // 4)
        raw = dict(self.usage)
        if isinstance(raw.get("output_tokens"), int) and raw["output_tokens"] < estimate:
            raw["output_tokens"] = estimate
        return partial_usage(anthropic_usage(raw, model=self.builder.model))

    def handle_batch(self, batch: list[ServerSentEvent], out: list[AssistantEvent]) -> None:
        """Parse and handle one read's events, up to ``message_stop``."""
        for sse in batch:
            try:
                data = loads_data(sse.data)
            except RecursionError:
                raise self._error(f"event data nests too deeply: {sse.data[:200]!r}") from None
            except ValueError:
                raise self._error(f"event data is not JSON: {sse.data[:200]!r}") from None
            if not isinstance(data, dict):
                raise self._error(f"event data is not an object: {sse.data[:200]!r}")
            try:
                self.handle(data, out)
            except (AttributeError, LookupError, TypeError, ValueError) as exc:
                raise self._error(f"event of unexpected shape ({exc}): {sse.data[:200]!r}") from exc
            if self.done:
                return

    def handle(self, data: dict[str, Any], out: list[AssistantEvent]) -> None:
        kind = data.get("type")
        builder = self.builder
        if kind == "content_block_delta":
            index = data.get("index")
            delta = data.get("delta") or {}
            delta_type = delta.get("type")
            if index in self.skipped:
                return
            if delta_type == "text_delta":
                if delta.get("text"):
                    out.append(builder.text(index, as_text(delta["text"])))
            elif delta_type == "input_json_delta":
                if delta.get("partial_json"):
                    out.append(builder.tool_call_arguments(index, as_text(delta["partial_json"])))
            elif delta_type == "thinking_delta":
                if delta.get("thinking"):
                    out.append(builder.thinking(index, as_text(delta["thinking"])))
            elif delta_type == "signature_delta":
                builder.signature(index, as_text(delta.get("signature") or ""))
        elif kind == "content_block_start":
            self._block_start(data, out)
        elif kind == "content_block_stop":
            end = builder.end_block(data.get("index"))
            if end is not None:
                out.append(end)
        elif kind == "message_start":
            message = data.get("message") or {}
            if isinstance(message.get("id"), str):
                builder.response_id = message["id"]
            if isinstance(message.get("model"), str) and message["model"]:
                builder.model = message["model"]
            self.usage.update(message.get("usage") or {})
            self._diagnostics(message.get("diagnostics"))
            self.started = True
            out.append(builder.start())
        elif kind == "message_delta":
            delta = data.get("delta") or {}
            if delta.get("stop_reason"):
                self.stop = as_text(delta["stop_reason"])
            # Counts here are cumulative: they replace, never add to, earlier ones.
            self.usage.update(data.get("usage") or {})
            self._diagnostics(data.get("diagnostics"))
            self.progressed = True
        elif kind == "message_stop":
            self.done = True
        elif kind == "error" or (kind is None and data.get("error")):
            # LiteLLM's proxy sends ``data: {"error": {...}}`` with no type and no event name.
            raise midstream_error(
                data.get("error"),
                provider=self.provider.name,
                request_id=_text_or_none(data.get("request_id")) or builder.response_id,
            )
        # ``ping`` and event types added later are ignored, as the API asks.

    def _diagnostics(self, value: Any) -> None:
        """Read ``diagnostics.cache_miss_reason`` (cache diagnostics, §1.10) and log it."""
        if not isinstance(value, dict) or not isinstance(value.get("cache_miss_reason"), dict):
            return
        miss = value["cache_miss_reason"]
        reason = miss.get("type")
        if not isinstance(reason, str) or reason == self.builder.cache_miss_reason:
            return
        self.builder.cache_miss_reason = reason
        missed = miss.get("cache_missed_input_tokens")
        _log.info(
            "cache.miss_reason",
            provider=self.provider.name,
            model=self.builder.model,
            response_id=self.builder.response_id,
            cache_miss_reason=reason,
            cache_missed_input_tokens=missed if isinstance(missed, int) else None,
        )

    def _block_start(self, data: dict[str, Any], out: list[AssistantEvent]) -> None:
        index = data.get("index")
        block = data.get("content_block") or {}
        block_type = block.get("type")
        builder = self.builder
        if not self.started:
            raise self._error("content_block_start before message_start")
        if block_type == "text":
            if block.get("text"):
                out.append(builder.text(index, as_text(block["text"])))
        elif block_type == "tool_use":
            call_id, name = as_text(block.get("id", "")), as_text(block.get("name", ""))
            out.append(builder.tool_call_start(index, call_id, name))
        elif block_type == "thinking":
            if block.get("thinking"):
                out.append(builder.thinking(index, as_text(block["thinking"])))
            if block.get("signature"):
                builder.signature(index, as_text(block["signature"]))
        elif block_type == "redacted_thinking":
            self.skipped.add(index)  # complete on arrival; later events for it are ignored
            out.append(builder.redacted_thinking(index, as_text(block.get("data", ""))))
        else:
            self.skipped.add(index)
            _log.info("anthropic.block_skipped", block_type=block_type, index=index)

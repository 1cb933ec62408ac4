"""A provider for any server speaking OpenAI's streaming Chat Completions API.

vLLM, llama.cpp, Ollama, LM Studio, OpenAI itself... Cache markers are
stripped (these servers do not understand ``cache_control``); usage follows
OpenAI's convention (``prompt_tokens`` includes cached tokens) and is
converted to agentkit's; cost comes from the model registry when it knows
the model, else it is None (unknown), with one ``usage.price_unknown``
notice per model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import httpx

from agentkit._events import AssistantEvent
from agentkit._json import canonical_json
from agentkit._log import get_logger
from agentkit._messages import AssistantMessage, Context, Usage
from agentkit._stream import EventStream
from agentkit.providers._base import (
    AnswerOut,
    AssistantMessageBuilder,
    AssistantStream,
    ModelOptions,
)
from agentkit.providers._errors import (
    MidStreamError,
    ProviderConnectionError,
    ResponseFormatError,
    midstream_error,
)
from agentkit.providers._http import HTTPProviderBase, RetryPolicy, SSEReader, Timeouts
from agentkit.providers._openai_format import (
    CacheMode,
    ChunkState,
    build_messages,
    build_tools,
    response_format,
)
from agentkit.providers._sse import ServerSentEvent
from agentkit.providers._usage import openai_usage, partial_usage

__all__ = ["OpenAICompatibleProvider"]

_log = get_logger("agentkit.providers")


class OpenAICompatibleProvider(HTTPProviderBase):
    """Streams from ``{base_url}/chat/completions``.

    ``api_key`` is optional (a local server needs none; it is sent as a
    bearer token when given). ``headers`` are added to every request.
    A plain ``http://`` ``base_url`` is accepted for loopback hosts only,
    unless ``allow_insecure_http=True``.
    ``client`` is an ``httpx.AsyncClient`` you own (proxies, transports,
    pools); without one the provider makes its own, closed by :meth:`aclose`.
    """

    name = "openai_compatible"
    _cache_mode: CacheMode = "strip"
    _derive_cache_writes = False

    def supports_native_output(self, model: str) -> bool:
        """True: the server is sent ``response_format`` and answers for itself.

        A server without JSON-schema output refuses the request (an HTTP
        error, a typed :class:`~agentkit.ProviderError`).
        """
        return True

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        client: httpx.AsyncClient | None = None,
        headers: Mapping[str, str] | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        name: str | None = None,
        allow_insecure_http: bool = False,
    ) -> None:
        super().__init__(
            api_key=api_key,
            base_url=base_url,
            client=client,
            timeouts=timeouts,
            retry=retry,
            allow_insecure_http=allow_insecure_http,
        )
        self._extra_headers = dict(headers or {})
        if name is not None:
            self.name = name

    # ------------------------------------------------------------------ request

    def _headers(self) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": "text/event-stream"}
        headers.update(self._extra_headers)
        return headers  # the key is added by the auth flow, as late as possible

    def _reasoning(self, options: ModelOptions) -> dict[str, Any]:
        reasoning = options.reasoning
        if reasoning is None or reasoning.effort is None:
            return {}
        return {"reasoning_effort": reasoning.effort}

    def _extra_fields(self, context: Context, options: ModelOptions) -> dict[str, Any]:
        return {"stream_options": {"include_usage": True}}

    def build_body(self, context: Context, options: ModelOptions) -> dict[str, Any]:
        """The JSON request body for ``context`` (public for inspection and tests)."""
        body: dict[str, Any] = {
            "model": options.model,
            "messages": build_messages(
                context, self._cache_mode, pass_reasoning=self._cache_mode == "text_parts"
            ),
            "stream": True,
        }
        if context.tools:
            body["tools"] = build_tools(context.tools, self._cache_mode)
        if options.max_tokens is not None:
            body["max_tokens"] = options.max_tokens
        if options.temperature is not None:
            body["temperature"] = options.temperature
        if options.stop:
            body["stop"] = list(options.stop)
        if options.output_schema is not None:
            body["response_format"] = response_format(options.output_schema)
        body.update(self._reasoning(options))
        body.update(self._extra_fields(context, options))
        body.update(options.extra)
        return body

    # ------------------------------------------------------------------ response

    def _usage(self, raw: Mapping[str, Any], model: str) -> Usage:
        return openai_usage(raw, model=model, derive_cache_writes=self._derive_cache_writes)

    def stream(self, context: Context, options: ModelOptions) -> AssistantStream:
        """A not-yet-started stream of the model's answer to ``context``."""

        async def produce(out: AnswerOut) -> None:
            self._check_key()
            body = canonical_json(self.build_body(context, options)).encode()
            url = f"{self.base_url}/chat/completions"

            async def consume(response: httpx.Response, reader: SSEReader) -> AssistantMessage:
                return await self._consume(response, reader, out, options)

            await self._post_stream(url, body, self._headers(), consume, out.end)

        return EventStream(produce, name=f"{self.name}:{options.model}")

    def _handle_batch(
        self, batch: list[ServerSentEvent], state: ChunkState, out: list[AssistantEvent]
    ) -> None:
        """Parse and handle one read's events, up to the end of the answer."""
        for sse in batch:
            if sse.event == "error":
                raise midstream_error(
                    _event_error(sse.data), provider=self.name, request_id=state.builder.response_id
                )
            try:
                state.feed(sse.data, out)
            except (AttributeError, LookupError, TypeError, ValueError) as exc:
                raise ResponseFormatError(
                    self._redact(
                        f"{self.name}: chunk of unexpected shape ({exc}): {sse.data[:200]!r}"
                    ),
                    request_id=state.builder.response_id,
                ) from exc
            if state.done:
                return

    async def _consume(
        self,
        response: httpx.Response,
        reader: SSEReader,
        out: AnswerOut,
        options: ModelOptions,
    ) -> AssistantMessage:
        builder = AssistantMessageBuilder(model=options.model, provider=self.name)
        state = ChunkState(builder, self.name)

        def so_far() -> Usage:
            # Usage comes in the last chunks: before them nothing is known.
            raw = state.usage
            return partial_usage(None if raw is None else self._usage(raw, builder.model))

        with builder.partial_on_cancel(out, so_far):
            try:
                return await self._read_answer(reader, out, builder, state)
            except BaseException:
                if state.usage is None:
                    gen_id = builder.response_id or response.headers.get("x-generation-id")
                    state.usage = await self._billed_usage(response, gen_id)
                raise

    async def _billed_usage(
        self, response: httpx.Response, response_id: str | None
    ) -> Mapping[str, Any] | None:
        """What the service billed for a request that ended before its usage chunk.

        None here (nothing is known); OpenRouter looks the generation up.
        """
        return None

    async def _read_answer(
        self,
        reader: SSEReader,
        out: AnswerOut,
        builder: AssistantMessageBuilder,
        state: ChunkState,
    ) -> AssistantMessage:
        events: list[AssistantEvent] = []
        async for batch in reader:
            # One network read's events go out together, and before any failure in it.
            try:
                self._handle_batch(batch, state, events)
            except Exception:
                await out.push_many(events)
                raise
            if events or state.progressed:
                reader.progress()  # chunks with empty choices do not count
                state.progressed = False
            await out.push_many(events)
            events.clear()
            if state.done:
                break
        if not state.started:
            raise ResponseFormatError(f"{self.name}: the stream ended without any chunk")
        if state.finish == "error":
            raise MidStreamError(
                f"{self.name}: the model stopped with an error "
                f"({state.native_finish or 'no reason given'})",
                code=state.native_finish,
                request_id=builder.response_id,
            )
        if not state.done and state.finish is None:
            raise ProviderConnectionError(
                f"{self.name}: the stream ended before the answer was complete",
                request_id=builder.response_id,
                retryable=True,
            )
        await out.push_many(builder.close_blocks())
        if state.usage is None:
            _log.warning("provider.usage_missing", provider=self.name, model=builder.model)
        usage = self._usage(state.usage or {}, builder.model)
        self._price_notices.check(usage, model=builder.model, provider=self.name)
        details = state.reasoning_details()
        if details:
            builder.provider_data = {**(builder.provider_data or {}), "reasoning_details": details}
        if state.thinking_blocks:
            blocks = state.thinking_blocks
            builder.provider_data = {**(builder.provider_data or {}), "thinking_blocks": blocks}
        return builder.build(state.stop_reason(), usage)

    def _answer_events(self, answer: Any) -> list[ServerSentEvent] | None:
        """The chunk equivalent to a whole ``chat.completion`` (a server that did not stream)."""
        if not isinstance(answer, dict):
            return None
        if answer.get("error") and not answer.get("choices"):
            return [ServerSentEvent("message", json.dumps({"error": answer["error"]}))]
        choices = answer.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return None
        choice = choices[0]
        message = choice.get("message")
        if not isinstance(message, dict):
            return None
        delta = dict(message)
        calls = delta.get("tool_calls")
        if isinstance(calls, list):
            delta["tool_calls"] = [
                {**call, "index": i} if isinstance(call, dict) else call
                for i, call in enumerate(calls)
            ]
        chunk = {key: value for key, value in answer.items() if key != "choices"}
        chunk["choices"] = [
            {"index": 0, "delta": delta, "finish_reason": choice.get("finish_reason") or "stop"}
        ]
        return [ServerSentEvent("message", json.dumps(chunk)), ServerSentEvent("message", "[DONE]")]


def _event_error(data: str) -> Any:
    try:
        parsed = json.loads(data)
    except (ValueError, RecursionError):
        return {"message": data[:500]}
    if isinstance(parsed, dict) and "error" in parsed:
        return parsed["error"]
    return parsed


def env_key(name: str) -> str | None:
    """The API key from environment variable ``name``, or None when unset or empty."""
    return os.environ.get(name) or None

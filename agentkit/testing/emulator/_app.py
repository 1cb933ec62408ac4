"""The ASGI application: routing, request records, cache bookkeeping and fault delivery.

It runs inside uvicorn's asyncio loop (in the emulator's own thread), so it
uses asyncio directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Mapping, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import attrs

import agentkit.testing.emulator._anthropic_api as anthropic_api
import agentkit.testing.emulator._anthropic_render as anthropic_render
import agentkit.testing.emulator._fidelity as fidelity
import agentkit.testing.emulator._openrouter_api as openrouter_api
import agentkit.testing.emulator._openrouter_render as openrouter_render
from agentkit._log import get_logger
from agentkit._models import model_key
from agentkit.testing.emulator._cache import CachePlan, diagnose, fingerprint, plan_request
from agentkit.testing.emulator._common import ApiError, ParsedCall
from agentkit.testing.emulator._delivery import Receive, Response, Send, deliver, send_whole
from agentkit.testing.emulator._faults import (
    Fault,
    FaultError,
    GzipBombFault,
    KeepAliveFault,
    MalformedFault,
    NotStreamFault,
    RedirectFault,
    StatusFault,
    StreamErrorFault,
    parse_fault,
)
from agentkit.testing.emulator._model import ModelReply, output_tokens
from agentkit.testing.emulator._state import (
    Api,
    CacheReport,
    Clock,
    EmulatorConfig,
    EmulatorState,
    RequestRecord,
    ScriptEndedError,
)

__all__ = ["EmulatorApp"]

_log = get_logger("agentkit.testing.emulator")

Scope = MutableMapping[str, Any]

ANTHROPIC_PATH = "/v1/messages"
OPENROUTER_PATH = "/api/v1/chat/completions"
GENERATION_PATH = "/api/v1/generation"
MODELS_PATHS = {"/v1/models": "anthropic", "/api/v1/models": "openrouter"}
#: How long a generation lookup waits for a stream still being answered to end.
GENERATION_WAIT = 10.0
_SECRET_HEADERS = frozenset({"authorization", "x-api-key", "cookie", "proxy-authorization"})
_SSE = "text/event-stream; charset=utf-8"


class EmulatorApp:
    """Serves ``/v1/messages`` and ``/api/v1/chat/completions`` from ``state``."""

    def __init__(
        self, config: EmulatorConfig, state: EmulatorState, clock: Clock, stopping: threading.Event
    ) -> None:
        self.config = config
        self.state = state
        self.clock = clock
        self.stopping = stopping
        # OpenRouter generations by id: set once the stream ended, with what it billed.
        self._generations: dict[str, tuple[asyncio.Event, dict[str, Any]]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = str(scope["path"]).rstrip("/")
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        if scope["method"] == "GET":
            query = parse_qs(bytes(scope.get("query_string", b"")).decode())
            await self._get(path, query, send)
            return
        if scope["method"] != "POST" or path not in (ANTHROPIC_PATH, OPENROUTER_PATH):
            raw = json.dumps({"error": f"no route {scope['method']} {path}"}).encode()
            await send_whole(send, 404, {"content-type": "application/json"}, raw)
            return
        api: Api = "anthropic" if path == ANTHROPIC_PATH else "openrouter"
        try:
            await self._handle(api, path, body, headers, receive=receive, send=send)
        except Exception as exc:
            # An emulator bug must reach the test as a clear failure, not a bare reset.
            _log.error("emulator_request_failed", api=api, error=repr(exc))
            raw = json.dumps({"error": f"agentkit emulator failed: {exc!r}"}).encode()
            await send_whole(send, 500, {"content-type": "application/json"}, raw)

    async def _handle(
        self,
        api: Api,
        path: str,
        raw: bytes,
        headers: dict[str, str],
        *,
        receive: Receive,
        send: Send,
    ) -> None:
        index = self.state.next_index()
        safe_headers = {k: v for k, v in headers.items() if k not in _SECRET_HEADERS}
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError as exc:
            body = None
            parse_error: str | None = f"There was an error parsing the body: {exc.msg}"
        else:
            parse_error = None
        model = body.get("model") if isinstance(body, Mapping) else None
        base = RequestRecord(
            index,
            api,
            path,
            body,
            safe_headers,
            model if isinstance(model, str) else None,
            0,
            bool(body.get("stream")) if isinstance(body, Mapping) else False,
        )
        try:
            fault = (
                parse_fault(headers["x-emulator-fault"])
                if "x-emulator-fault" in headers
                else self.state.take_fault(api)
            )
        except FaultError as exc:
            await self._error(api, base, ApiError(str(exc)), send)
            return
        base = _evolve(base, fault=fault)
        if isinstance(fault, RedirectFault):
            self.state.record(_evolve(base, status=fault.status))
            headers_out = {"location": fault.location, "content-length": "0"}
            await send_whole(send, fault.status, headers_out, b"")
            return
        if isinstance(fault, GzipBombFault):
            self.state.record(_evolve(base, status=fault.status))
            headers_out = {"content-type": "application/json", "content-encoding": "gzip"}
            await send_whole(send, fault.status, headers_out, _gzip_bomb(fault.size))
            return
        if isinstance(fault, StatusFault):
            await self._error(
                api,
                base,
                ApiError(fault.message or "", status=fault.status),
                send,
                retry_after=fault.retry_after,
            )
            return
        try:
            if parse_error is not None:
                raise ApiError(parse_error)
            if api == "anthropic":
                call = anthropic_api.parse_request(
                    body, collapse_tool_runs=self.config.collapse_tool_runs
                )
            else:
                call = openrouter_api.parse_request(
                    body,
                    session_header=headers.get("x-session-id"),
                    collapse_tool_runs=self.config.collapse_tool_runs,
                )
        except ApiError as exc:
            if (
                api == "openrouter"
                and isinstance(body, Mapping)
                and exc.status == 400
                and openrouter_api.is_claude(str(body.get("model", "")))
                and _is_upstream(exc)
            ):
                # OpenRouter relays Anthropic's 400 wrapped as a provider error (§3.7).
                upstream = anthropic_render.error_body(400, exc.message, request_id=_rid(index))
                exc = ApiError("Provider returned error", status=400)
                meta = {"raw": json.dumps(upstream), "provider_name": "Anthropic"}
                await self._error(api, base, exc, send, metadata=meta)
                return
            await self._error(api, base, exc, send)
            return
        await self._serve(api, base, call, fault=fault, receive=receive, send=send)

    async def _serve(
        self,
        api: Api,
        base: RequestRecord,
        call: ParsedCall,
        *,
        fault: Fault | None,
        receive: Receive,
        send: Send,
    ) -> None:
        index, model, now = base.index, call.request.model, self.clock.now()
        info = self.config.model_info(model)
        tool_names = tuple(t.name for t in call.request.tools)
        try:
            fidelity.check_model(api, model, info)
            stops = fidelity.stop_sequences(api, base.body)
            fidelity.apply_tool_choice(api, base.body, ModelReply(), tool_names)  # validates
        except ApiError as exc:
            await self._error(api, base, exc, send)
            return
        upstream = "Anthropic"
        sticky_key = call.session_id or hashlib.sha256(call.sticky_hint.encode()).hexdigest()
        if api == "openrouter":
            providers = self.config.openrouter_providers if not call.implicit_cache else ("OpenAI",)
            try:
                upstream = self.state.route(
                    model,
                    providers,
                    sticky_key,
                    order=call.provider_order,
                    now=now,
                    sticky_seconds=self.config.sticky_seconds,
                )
            except LookupError as exc:
                await self._error(api, base, ApiError(str(exc), status=503), send)
                return
        minimum = self.config.minimum(model, implicit=call.implicit_cache)
        seed = f"{api}|{upstream}|{model_key(model)}"
        sticky = self.config.sticky_seconds
        plan = plan_request(
            call.positions,
            call.breakpoints,
            self.state.store(api, upstream),
            now,
            seed=seed,
            min_tokens=minimum,
            lookback=self.config.lookback,
            implicit=call.implicit_cache,
        )
        try:
            fidelity.check_context_window(api, info, plan.total_tokens, call.request.max_tokens)
        except ApiError as exc:
            await self._error(api, base, exc, send)
            return
        try:
            reply = (
                ModelReply()
                if call.request.max_tokens == 0
                else fidelity.fit_reply(
                    fidelity.apply_tool_choice(
                        api, base.body, self.state.reply_policy()(call.request), tool_names
                    ),
                    call.request.max_tokens,
                    stops,
                )
            )
        except ScriptEndedError as exc:
            await self._error(
                api,
                base,
                ApiError(f"agentkit emulator: {exc} (request #{index})", status=500),
                send,
            )
            return
        except Exception as exc:  # the test's policy failed: report it, loudly, as a 500
            message = f"agentkit emulator: the script policy raised {type(exc).__name__}: {exc}"
            await self._error(api, base, ApiError(message, status=500), send)
            return
        if isinstance(fault, NotStreamFault) and fault.content_type == "application/json":
            call = attrs.evolve(call, stream=False)  # the whole answer, as JSON
        if api == "anthropic" and "diagnostics" in call.extra:
            call = self._diagnose(call, index)
        response, usage = self._render(api, call, reply, plan, index=index, upstream=upstream)
        report = CacheReport.of(plan, len(call.positions), minimum, upstream)
        record = _evolve(
            base,
            status=200,
            usage=usage,
            cache=report,
            provider=(upstream if api == "openrouter" else None),
            reply=reply,
            request=call.request,
            ignored_markers=call.ignored_markers,
            stream=call.stream,
            billed=usage,
        )
        generation = response.headers.get("x-generation-id") if api == "openrouter" else None
        if generation is not None:
            self._generations[generation] = (asyncio.Event(), {})

        async def on_start() -> None:
            # Entries become visible once the response begins (§1.3 concurrency note).
            start = self.clock.now()
            self.state.apply(api, upstream, plan, start)
            if (
                api == "openrouter"
                and not call.provider_order
                and fault is None
                and (
                    call.session_id is not None
                    or plan.read_tokens > 0
                    or self.state.sticky_provider(model, sticky_key, start, sticky) == upstream
                )
            ):
                self.state.stick(model, sticky_key, upstream, start)
            self.state.record(record)

        response = self._fault_frames(api, call, response, fault, index=index, upstream=upstream)
        billed: Mapping[str, Any] = usage
        try:
            sent = await deliver(
                response,
                fault,
                on_start=on_start,
                receive=receive,
                send=send,
                stopping=self.stopping,
                frame_delay=self.config.frame_delay,
            )
            if sent is not None and response.stream:
                # The client left early: the service bills the output it had sent.
                output, reasoning = fidelity.sent_output(api, response.frames[:sent])
                billed = (
                    anthropic_render.usage_fields(plan, output)
                    if api == "anthropic"
                    else openrouter_render.usage_fields(
                        plan,
                        output,
                        reasoning,
                        info,
                        report_writes=self.config.report_cache_writes,
                    )
                )
                self.state.rebill(index, billed)
        finally:
            if generation is not None:
                done, data = self._generations[generation]
                data.update(_generation(generation, record, billed, cancelled=billed is not usage))
                done.set()

    def _diagnose(self, call: ParsedCall, index: int) -> ParsedCall:
        """Compare with the request named by ``previous_message_id`` (§1.10); the
        result rides in ``call.extra["diagnostics_result"]`` to the renderer."""
        current = fingerprint(call.request.model, call.positions, call.extra["sections"])
        self.state.remember_fingerprint(anthropic_render.message_id(index), current)
        previous_id = call.extra["diagnostics"]
        if previous_id is None:
            result: dict[str, Any] = {"cache_miss_reason": None}
        else:
            reason, missed = diagnose(self.state.fingerprint(previous_id), current)
            miss: dict[str, Any] | None = None
            if reason is not None:
                miss = {"type": reason}
                if missed is not None:
                    miss["cache_missed_input_tokens"] = missed
            result = {"cache_miss_reason": miss}
        return attrs.evolve(call, extra={**call.extra, "diagnostics_result": result})

    def _render(
        self,
        api: Api,
        call: ParsedCall,
        reply: ModelReply,
        plan: CachePlan,
        *,
        index: int,
        upstream: str,
    ) -> tuple[Response, dict[str, Any]]:
        if api == "anthropic":
            headers = {"request-id": _rid(index)}
            if call.stream:
                frames = anthropic_render.stream_frames(
                    call, reply, plan, index=index, pad=self.config.pad_json
                )
                usage = anthropic_render.usage_fields(plan, _output(call, reply))
                return Response(
                    200, headers | {"content-type": _SSE}, tuple(frames), stream=True
                ), usage
            body = anthropic_render.message_body(call, reply, plan, index=index)
            raw = json.dumps(body).encode()
            return (
                Response(200, headers | {"content-type": "application/json"}, (raw,), stream=False),
                body["usage"],
            )
        output, reasoning = openrouter_render.output_and_reasoning(call, reply)
        usage = openrouter_render.usage_fields(
            plan,
            output,
            reasoning,
            self.config.model_info(call.request.model),
            report_writes=self.config.report_cache_writes,
        )
        created = int(self.clock.now()) + 1_700_000_000
        gen = f"gen-{created}-emu{index:014d}"
        headers = {"x-generation-id": gen}
        if call.stream:
            frames = openrouter_render.stream_frames(
                call,
                reply,
                usage,
                generation_id=gen,
                created=created,
                provider=upstream,
                keepalives=self.config.keepalives,
                usage_chunk=self.config.usage_chunk,
            )
            return Response(
                200, headers | {"content-type": _SSE}, tuple(frames), stream=True
            ), usage
        body = openrouter_render.response_body(
            call, reply, usage, generation_id=gen, created=created, provider=upstream
        )
        return (
            Response(
                200,
                headers | {"content-type": "application/json"},
                (json.dumps(body).encode(),),
                stream=False,
            ),
            usage,
        )

    def _fault_frames(
        self,
        api: Api,
        call: ParsedCall,
        response: Response,
        fault: Fault | None,
        *,
        index: int,
        upstream: str,
    ) -> Response:
        """The response with a mid-stream error or a malformed frame put in, if asked."""
        frames = response.frames
        if isinstance(fault, KeepAliveFault):
            if api == "anthropic":
                ping = b'event: ping\ndata: {"type": "ping"}\n\n'
            else:
                chunk = {"id": f"gen-emu{index:014d}", "object": "chat.completion.chunk",
                         "model": call.request.model, "choices": []}  # fmt: skip
                ping = b"data: " + json.dumps(chunk).encode() + b"\n\n"
            return attrs.evolve(response, keepalive=ping)
        if isinstance(fault, NotStreamFault) and fault.content_type != "application/json":
            page = b"<html><body><h1>Welcome to the network</h1></body></html>"
            headers = {"content-type": fault.content_type}
            return attrs.evolve(response, headers=headers, frames=(page,), stream=False)
        if isinstance(fault, StreamErrorFault):
            cut = min(fault.after, len(frames))
            if api == "anthropic":
                return attrs.evolve(
                    response, frames=(*frames[:cut], anthropic_render.overloaded_frame())
                )
            created = int(self.clock.now()) + 1_700_000_000
            error = openrouter_render.midstream_error_frame(
                f"gen-{created}-emu{index:014d}", created, call.request.model, upstream, fault.code
            )
            return attrs.evolve(response, frames=(*frames[:cut], error))
        if isinstance(fault, MalformedFault):
            cut = min(fault.after, len(frames))
            if not response.stream:
                broken = b'{"id": "broken", "content": ['
            elif api == "anthropic":
                broken = b'event: content_block_delta\ndata: {"type":"content_block_delta","ind\n\n'
            else:
                broken = b'data: {"id":"gen-broken","choices":[{"delta":{"content":"x\n\n'
            return attrs.evolve(response, frames=(*frames[:cut], broken))
        return response

    async def _get(self, path: str, query: Mapping[str, list[str]], send: Send) -> None:
        """The read-only endpoints: OpenRouter's generation lookup and both model lists."""
        json_type = {"content-type": "application/json"}
        if path == GENERATION_PATH:
            wanted = (query.get("id") or [""])[0]
            entry = self._generations.get(wanted)
            if entry is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(entry[0].wait(), GENERATION_WAIT)
            if entry is None or not entry[0].is_set():
                body = openrouter_render.error_body(404, "Generation not found", None)
                await send_whole(send, 404, json_type, json.dumps(body).encode())
                return
            raw = json.dumps({"data": entry[1]}).encode()
            await send_whole(send, 200, json_type, raw)
            return
        api_name = MODELS_PATHS.get(path)
        if api_name is None and path.startswith("/v1/models/"):
            model = path.removeprefix("/v1/models/")
            info = self.config.model_info(model)
            if info is None:
                body = anthropic_render.error_body(404, f"model: {model}", request_id=_rid(0))
                await send_whole(send, 404, json_type, json.dumps(body).encode())
                return
            raw = json.dumps(fidelity.anthropic_model_entry(model, info)).encode()
            await send_whole(send, 200, json_type, raw)
            return
        if api_name is None:
            raw = json.dumps({"error": f"no route GET {path}"}).encode()
            await send_whole(send, 404, json_type, raw)
            return
        listing = fidelity.model_listing(api_name, self.config.known_models())
        await send_whole(send, 200, json_type, json.dumps(listing).encode())

    async def _error(
        self,
        api: Api,
        base: RequestRecord,
        exc: ApiError,
        send: Send,
        *,
        retry_after: float | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        headers = {"content-type": "application/json"}
        if api == "anthropic":
            body = anthropic_render.error_body(
                exc.status, exc.message or None, request_id=_rid(base.index)
            )
            headers["request-id"] = _rid(base.index)
        else:
            if metadata is None and exc.error_type is not None:
                metadata = {"error_type": exc.error_type}
            body = openrouter_render.error_body(exc.status, exc.message or None, metadata)
        if retry_after is not None:
            headers["retry-after"] = f"{retry_after:g}"
        self.state.record(_evolve(base, status=exc.status, error=body))
        await send_whole(send, exc.status, headers, json.dumps(body).encode())


_BOMBS: dict[int, bytes] = {}


def _gzip_bomb(size: int) -> bytes:
    """A gzip JSON error body padded with spaces to ``size`` bytes decompressed (cached)."""
    if size not in _BOMBS:
        import zlib  # noqa: PLC0415 - only for this fault

        z = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
        head = b'{"error": {"type": "api_error", "message": "compressed"}}'
        parts = [z.compress(head)]
        left = max(size - len(head), 0)
        block = b" " * (1 << 20)
        while left > 0:
            parts.append(z.compress(block[: min(left, len(block))]))
            left -= len(block)
        parts.append(z.flush())
        _BOMBS[size] = b"".join(parts)
    return _BOMBS[size]


def _is_upstream(exc: ApiError) -> bool:
    """Whether a validation error is one Anthropic (not OpenRouter) would raise."""
    return "cache_control" in exc.message


def _output(call: ParsedCall, reply: ModelReply) -> int:
    return 0 if call.request.max_tokens == 0 else output_tokens(reply)


def _generation(
    gen_id: str, record: RequestRecord, billed: Mapping[str, Any], *, cancelled: bool
) -> dict[str, Any]:
    """OpenRouter's ``/api/v1/generation`` ``data`` for a request and what it billed."""
    prompt = dict(billed.get("prompt_tokens_details") or {})
    completion = dict(billed.get("completion_tokens_details") or {})
    cost = billed.get("cost")
    created = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    return {
        "id": gen_id,
        "upstream_id": f"msg_emu{record.index:017d}",
        "total_cost": cost,
        "cache_discount": None,
        "upstream_inference_cost": None,
        "created_at": created,
        "model": record.model,
        "app_id": None,
        "streamed": record.stream,
        "cancelled": cancelled,
        "provider_name": record.provider,
        "latency": 0,
        "moderation_latency": None,
        "generation_time": 0,
        "finish_reason": None if cancelled else "stop",
        "native_finish_reason": None,
        "tokens_prompt": billed.get("prompt_tokens"),
        "tokens_completion": billed.get("completion_tokens"),
        "native_tokens_prompt": billed.get("prompt_tokens"),
        "native_tokens_completion": billed.get("completion_tokens"),
        "native_tokens_completion_images": None,
        "native_tokens_reasoning": completion.get("reasoning_tokens", 0),
        "native_tokens_cached": prompt.get("cached_tokens", 0),
        "num_media_prompt": None,
        "num_input_audio_prompt": None,
        "num_media_completion": 0,
        "num_search_results": None,
        "origin": "",
        "usage": cost,
        "is_byok": False,
        "external_user": None,
        "api_type": "completions",
    }


def _rid(index: int) -> str:
    return f"req_emu{index:017d}"


def _evolve(record: RequestRecord, **changes: Any) -> RequestRecord:
    return attrs.evolve(record, **changes)

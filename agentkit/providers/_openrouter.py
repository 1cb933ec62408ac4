"""OpenRouter's streaming Chat Completions API.

What differs from a plain OpenAI-compatible server:

* cache markers are kept, on ``{"type": "text"}`` parts only (see
  :mod:`agentkit.providers._openai_format` for how other markers move);
* ``reasoning`` options, ``provider`` routing preferences, and the app
  attribution headers (``HTTP-Referer``, ``X-Title``);
* sticky routing on by default: every request carries a ``session_id``, so a
  conversation stays on the upstream that holds its cache from its first
  request on (without one, OpenRouter load-balances until a cache hit, and
  requests that land on another upstream pay the cache write again);
* ``reasoning_details`` from an answer are kept in
  ``provider_data["reasoning_details"]`` and sent back unchanged on the
  assistant message that made tool calls;
* usage: ``cost`` is OpenRouter's own figure; when the service does not
  report ``cache_write_tokens``, writes are derived from the cost and the
  model's list prices and the usage says so (``cache_write_derived``);
* a request that ends before its usage chunk (aborted, failed, stalled) is
  looked up at ``GET /api/v1/generation?id=...`` once its stream is closed
  (:func:`fetch_generation_usage`), so its partial usage holds what OpenRouter
  billed; the lookup is bounded by ``generation_lookup_timeout`` and a failed
  one is logged (``openrouter.generation_lookup_failed``), leaving the usage
  unknown.

Native structured output (``ModelOptions.output_schema``) is sent as
``response_format`` with ``provider.require_parameters: true``, so OpenRouter
routes only to upstreams that honour it and refuses the request when none
does, instead of dropping the field. Claude models (``anthropic/...``) have it
from 4.5 on; other models are left to OpenRouter to refuse.

No ``anthropic-beta`` header is ever sent: prompt caching needs none.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import anyio
import httpx

from agentkit._json import canonical_json
from agentkit._log import get_logger
from agentkit._messages import Context
from agentkit.providers._anthropic import claude_json_output
from agentkit.providers._base import ModelOptions
from agentkit.providers._http import RetryPolicy, Timeouts
from agentkit.providers._openai_compat import OpenAICompatibleProvider, env_key
from agentkit.providers._openai_format import CacheMode

__all__ = [
    "OPENROUTER_BASE_URL",
    "OpenRouterProvider",
    "conversation_session_id",
    "fetch_generation_usage",
]

OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"
#: Seconds an aborted or failed request may spend looking up what it was billed.
GENERATION_LOOKUP_TIMEOUT = 5.0

_log = get_logger("agentkit.providers")


class OpenRouterProvider(OpenAICompatibleProvider):
    """Streams from OpenRouter (``api_key`` defaults to ``$OPENROUTER_API_KEY``).

    ``provider_routing`` is sent as the ``provider`` object (``order``,
    ``allow_fallbacks``, ``only``, ``sort``...). ``session_id`` keeps a
    conversation on one upstream so its cache stays warm: by default
    (``sticky=True``) each conversation gets one derived from its model, its
    system prompt and its first message, so every conversation sticks without
    any setup; pass your own id to group requests differently, or
    ``sticky=False`` to send none. ``app_url`` and ``app_name`` become the
    attribution headers. Per-request fields go in ``ModelOptions.extra``,
    which is merged last.
    """

    name = "openrouter"
    _key_variable = "OPENROUTER_API_KEY"
    _cache_mode: CacheMode = "text_parts"
    _derive_cache_writes = True

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str = OPENROUTER_BASE_URL,
        client: httpx.AsyncClient | None = None,
        provider_routing: Mapping[str, Any] | None = None,
        session_id: str | None = None,
        sticky: bool = True,
        app_url: str | None = None,
        app_name: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        allow_insecure_http: bool = False,
        generation_lookup_timeout: float | None = GENERATION_LOOKUP_TIMEOUT,
    ) -> None:
        extra_headers = dict(headers or {})
        if app_url:
            extra_headers["HTTP-Referer"] = app_url
        if app_name:
            extra_headers["X-Title"] = app_name
        super().__init__(
            base_url,
            api_key=api_key if api_key is not None else env_key("OPENROUTER_API_KEY"),
            client=client,
            headers=extra_headers,
            timeouts=timeouts,
            retry=retry,
            allow_insecure_http=allow_insecure_http,
        )
        if session_id is not None and len(session_id) > 256:
            raise ValueError(f"session_id must be at most 256 characters, got {len(session_id)}")
        self.provider_routing = dict(provider_routing) if provider_routing else None
        self.session_id = session_id
        self.sticky = sticky
        self.generation_lookup_timeout = generation_lookup_timeout

    async def _billed_usage(
        self, response: httpx.Response, response_id: str | None
    ) -> Mapping[str, Any] | None:
        """The generation's billed usage, looked up once the stream is closed (or None)."""
        timeout = self.generation_lookup_timeout
        if not response_id or timeout is None or timeout <= 0:
            return None
        with anyio.CancelScope(shield=True):  # an abort is what asked for this: finish it
            await response.aclose()  # closing the stream ends the generation and its billing
            return await fetch_generation_usage(
                self._get_client(),
                self.base_url,
                response_id,
                auth=self._auth(),
                limit=timeout,
                redact=self._redact,
            )
        return None  # the shield never cancels: unreachable, for the type checker

    def supports_native_output(self, model: str) -> bool:
        """False for Claude models before 4.5; other models OpenRouter refuses itself.

        Requests with an output schema require it of the upstream
        (``provider.require_parameters``), so an unsupported model fails with
        an HTTP error rather than answering unconstrained.
        """
        if model.lower().startswith("anthropic/"):
            return claude_json_output(model)
        return True

    def _reasoning(self, options: ModelOptions) -> dict[str, Any]:
        reasoning = options.reasoning
        if reasoning is None:
            return {}
        # OpenRouter takes one of the two; an explicit budget is the more precise.
        if reasoning.budget_tokens is not None:
            return {"reasoning": {"max_tokens": reasoning.budget_tokens}}
        if reasoning.effort is not None:
            return {"reasoning": {"effort": reasoning.effort}}
        return {"reasoning": {"enabled": True}}

    def _extra_fields(self, context: Context, options: ModelOptions) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if self.provider_routing:
            fields["provider"] = self.provider_routing
        if options.output_schema is not None:
            # Never routed to an upstream that would ignore the schema (unless asked).
            fields["provider"] = {"require_parameters": True, **fields.get("provider", {})}
        session = self.session_id or (
            conversation_session_id(context, options.model) if self.sticky else None
        )
        if session:
            fields["session_id"] = session
        return fields


def conversation_session_id(context: Context, model: str) -> str:
    """A stable id for the conversation ``context`` belongs to.

    Built from what stays the same for a whole conversation, without cache
    markers (they move from request to request): the model, the system text
    and the first message's content.
    """
    first = context.messages[0] if context.messages else None
    opening = [
        [getattr(block, "text", None) or getattr(block, "data", "") for block in first.content]
        if first is not None
        else None
    ]
    digest = hashlib.sha256(canonical_json([model, context.system_text, opening]).encode())
    return f"agentkit-{digest.hexdigest()[:32]}"


class _LookupFailedError(Exception):
    """A generation lookup that did not give usable data (logged, never raised)."""


def _generation_usage(data: Mapping[str, Any]) -> dict[str, Any]:
    """The generation's counts in the chat usage shape :func:`openai_usage` reads."""

    def count(field: str) -> int:
        value = data.get(field)
        return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0

    if not isinstance(data.get("native_tokens_prompt"), int | float):
        raise _LookupFailedError("no native_tokens_prompt")
    usage: dict[str, Any] = {
        "prompt_tokens": count("native_tokens_prompt"),
        "completion_tokens": count("native_tokens_completion"),
        "prompt_tokens_details": {"cached_tokens": count("native_tokens_cached")},
        "completion_tokens_details": {"reasoning_tokens": count("native_tokens_reasoning")},
    }
    if data.get("total_cost") is not None:
        usage["cost"] = data["total_cost"]
    return usage


async def fetch_generation_usage(
    client: httpx.AsyncClient,
    base_url: str,
    generation_id: str,
    *,
    auth: Any = httpx.USE_CLIENT_DEFAULT,
    limit: float = GENERATION_LOOKUP_TIMEOUT,
    redact: Any = str,
) -> dict[str, Any] | None:
    """What OpenRouter billed for generation ``generation_id``, in the chat usage shape.

    ``GET {base_url}/generation?id=...`` returns ``data`` with
    ``native_tokens_prompt`` / ``_completion`` / ``_cached`` / ``_reasoning`` and
    ``total_cost``; a generation becomes queryable a moment after its stream ends,
    so a 404 is retried until ``limit`` seconds have passed. Never raises: a
    failure (timeout, HTTP error, unexpected shape) is logged as
    ``openrouter.generation_lookup_failed`` and gives None (the usage stays unknown).
    """
    url = f"{base_url.rstrip('/')}/generation"
    delay = 0.1
    reason = "timeout"
    with anyio.move_on_after(limit):
        while True:
            try:
                response = await client.get(
                    url,
                    params={"id": generation_id},
                    auth=auth,
                    follow_redirects=False,
                    timeout=limit,
                )
                if response.status_code == 404:
                    reason = "not found"
                    await anyio.sleep(delay)  # not yet recorded: the documented delay
                    delay = min(delay * 2, 1.0)
                    continue
                if response.status_code != 200:
                    raise _LookupFailedError(f"HTTP {response.status_code}")
                body = response.json()
                data = body.get("data") if isinstance(body, dict) else None
                if not isinstance(data, dict):
                    raise _LookupFailedError("no data object")
                return _generation_usage(data)
            except (_LookupFailedError, httpx.HTTPError, ValueError) as exc:
                reason = redact(str(exc) or type(exc).__name__)
                break
    _log.warning("openrouter.generation_lookup_failed", generation_id=generation_id, reason=reason)
    return None

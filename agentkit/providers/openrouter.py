"""OpenRouter's streaming Chat Completions API.

What differs from a plain OpenAI-compatible server:

* cache markers are kept, on ``{"type": "text"}`` parts only (see
  :mod:`agentkit.providers.openai_format` for how other markers move);
* ``reasoning`` options, ``provider`` routing preferences, ``session_id``
  for sticky routing, and the app attribution headers (``HTTP-Referer``,
  ``X-Title``);
* ``reasoning_details`` from an answer are kept in
  ``provider_data["reasoning_details"]`` and sent back unchanged on the
  assistant message that made tool calls;
* usage: ``cost`` is OpenRouter's own figure; when the service does not
  report ``cache_write_tokens``, writes are derived from the cost and the
  model's list prices and the usage says so (``cache_write_derived``).

No ``anthropic-beta`` header is ever sent: prompt caching needs none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from agentkit.providers._http import RetryPolicy, Timeouts
from agentkit.providers.base import ModelOptions
from agentkit.providers.openai_compat import OpenAICompatibleProvider, env_key
from agentkit.providers.openai_format import CacheMode

__all__ = ["OPENROUTER_BASE_URL", "OpenRouterProvider"]

OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"


class OpenRouterProvider(OpenAICompatibleProvider):
    """Streams from OpenRouter (``api_key`` defaults to ``$OPENROUTER_API_KEY``).

    ``provider_routing`` is sent as the ``provider`` object (``order``,
    ``allow_fallbacks``, ``only``, ``sort``...); ``session_id`` keeps a
    conversation on one upstream so its cache stays warm; ``app_url`` and
    ``app_name`` become the attribution headers. Per-request fields go in
    ``ModelOptions.extra``, which is merged last.
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
        app_url: str | None = None,
        app_name: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
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
        )
        if session_id is not None and len(session_id) > 256:
            raise ValueError(f"session_id must be at most 256 characters, got {len(session_id)}")
        self.provider_routing = dict(provider_routing) if provider_routing else None
        self.session_id = session_id

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

    def _extra_fields(self, options: ModelOptions) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if self.provider_routing:
            fields["provider"] = self.provider_routing
        if self.session_id:
            fields["session_id"] = self.session_id
        return fields

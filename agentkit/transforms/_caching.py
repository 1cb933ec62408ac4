"""The caching transform: Anthropic prompt-cache breakpoints, placed so every request reads.

Markers go where the API takes them: always on Anthropic's Messages API
(provider ``"anthropic"``), whatever the model is called; through OpenRouter
or an OpenAI-compatible server, for models that cache at explicit markers
(Claude: the model registry, then the name). See ``docs/concepts/caching.md`` for
what is marked and why. In short:

1. the newest request's tail (the last markable block of the context);
2. the previous request's tail (the last markable block before the newest
   assistant message), so the entry the previous request wrote is read;
3. the end of the stable system prompt;
4. the last tool definition;
5. a bridge, when the newest request appended more positions than the
   20-position lookback reaches and a slot is still free.

Markers the caller placed are kept and counted first; the list above is then
taken in order until 4 markers are in place.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Literal

import attrs
from attrs import define, field
from attrs.validators import ge, in_, instance_of, optional

from agentkit._errors import AgentkitError
from agentkit._json import canonical_json
from agentkit._messages import CacheControl, CacheTTL, Context, Message
from agentkit._models import find_model
from agentkit.transforms._breakpoints import (
    LOOKBACK,
    MESSAGES,
    SYSTEM,
    TOOLS,
    Site,
    estimate_prefix_tokens,
    existing_markers,
    is_blank,
    last_site,
    span,
)
from agentkit.transforms._pipeline import TransformInfo

__all__ = [
    "ASSUMED_MIN_CACHEABLE_TOKENS",
    "MARKER_APIS",
    "MAX_BREAKPOINTS",
    "CacheBreakpoints",
    "CacheMarkerError",
    "CacheMode",
    "cache_breakpoints",
    "count_breakpoints",
]

CacheMode = Literal["off", "5m", "1h"]

#: Anthropic accepts at most this many ``cache_control`` markers per request.
MAX_BREAKPOINTS = 4

#: Provider names (``Provider.name``) whose API takes markers on any model.
MARKER_APIS = frozenset({"anthropic"})

#: The shortest cacheable prefix assumed for a model the registry does not know
#: (Anthropic's most common minimum); only the short-prefix warning uses it.
ASSUMED_MIN_CACHEABLE_TOKENS = 1024

_CONTROLS: dict[CacheTTL, CacheControl] = {"5m": CacheControl("5m"), "1h": CacheControl("1h")}


class CacheMarkerError(AgentkitError, ValueError):
    """The caller's own cache markers would make the request fail."""


def count_breakpoints(context: Context) -> int:
    """How many ``cache_control`` markers ``context`` carries."""
    return len(existing_markers(context))


def _where(site: Site) -> str:
    area, index, block = site
    if area == TOOLS:
        return f"tools[{index}]"
    if area == SYSTEM:
        return f"system[{index}]"
    return f"messages[{index}].content[{block}]"


def _check_caller_markers(found: list[tuple[Site, CacheTTL, bool]]) -> None:
    if len(found) > MAX_BREAKPOINTS:
        raise CacheMarkerError(
            f"the context already carries {len(found)} cache markers; Anthropic accepts at "
            f"most {MAX_BREAKPOINTS} (at {', '.join(_where(s) for s, _, _ in found)})"
        )
    seen_5m: Site | None = None
    for site, ttl, blank in found:
        if blank:
            raise CacheMarkerError(
                f"cache marker on an empty text block at {_where(site)}; the API rejects it"
            )
        if ttl == "5m" and seen_5m is None:
            seen_5m = site
        elif ttl == "1h" and seen_5m is not None:
            raise CacheMarkerError(
                f"1h cache marker at {_where(site)} comes after a 5m marker at "
                f"{_where(seen_5m)}; 1h markers must come first (tools, system, messages)"
            )


@define(frozen=True, slots=True)
class CacheBreakpoints:
    """Places prompt-cache breakpoints; a :class:`~agentkit.transforms.Transform`.

    ``mode`` is the TTL of the stable prefix (tools and system): ``"5m"``,
    ``"1h"``, or ``"off"`` to place nothing. Message markers are always 5m.
    ``volatile_system_blocks`` counts system blocks, from the end, that change
    between requests and so must stay after the system marker.
    ``explicit_breakpoints`` forces markers on or off whatever the model and
    provider; None decides by capability (see :meth:`applies_to`).
    ``text_only`` restricts message markers to text blocks; None means text
    only unless the provider is ``"anthropic"`` (gateways such as OpenRouter
    carry markers on text parts). ``min_cacheable_tokens`` overrides the
    model table for the short-prefix warning.
    """

    mode: CacheMode = field(default="5m", validator=in_(("off", "5m", "1h")))
    volatile_system_blocks: int = field(default=0, validator=[instance_of(int), ge(0)])
    explicit_breakpoints: bool | None = field(default=None, validator=optional(instance_of(bool)))
    text_only: bool | None = field(default=None, validator=optional(instance_of(bool)))
    min_cacheable_tokens: int | None = field(
        default=None, validator=optional([instance_of(int), ge(0)])
    )

    def applies_to(self, model: str, provider: str | None = None) -> bool:
        """Whether requests to ``model`` through ``provider`` (a ``Provider.name``) get markers.

        Never with ``mode="off"``; as ``explicit_breakpoints`` says when it is
        set; always on an API in :data:`MARKER_APIS` (Anthropic's Messages
        API takes markers whatever the model is called, an alias included);
        otherwise (OpenRouter, OpenAI-compatible servers, no provider given)
        by model family: the registry's ``explicit_cache_breakpoints``, then
        whether the name contains ``claude``.
        """
        return self._reason(model, provider) is not None

    def _reason(self, model: str, provider: str | None) -> str | None:
        """Why markers are placed (None: they are not)."""
        if self.mode == "off" or self.explicit_breakpoints is False:
            return None
        if self.explicit_breakpoints:
            return "explicit_breakpoints=True"
        if provider is not None and provider.lower() in MARKER_APIS:
            return f"the {provider} API takes markers on any model"
        known = find_model(model)
        if known is not None:
            return "the model registry" if known.explicit_cache_breakpoints else None
        return "the model name contains 'claude'" if "claude" in model.lower() else None

    def minimum_tokens(self, model: str) -> int:
        """The shortest prefix ``model`` caches; :data:`ASSUMED_MIN_CACHEABLE_TOKENS` if unknown."""
        if self.min_cacheable_tokens is not None:
            return self.min_cacheable_tokens
        known = find_model(model)
        return ASSUMED_MIN_CACHEABLE_TOKENS if known is None else known.min_cacheable_tokens

    def __call__(self, context: Context, info: TransformInfo) -> Context:
        reason = self._reason(info.model, info.provider)
        if reason is None:
            return context
        if find_model(info.model) is None and info.once("cache.model_assumed"):
            # Markers for a model agentkit knows nothing about: say what is assumed, once a run.
            info.log.info(
                "cache.model_assumed",
                because=reason,
                assumed="caches at explicit cache_control markers",
                min_cacheable_tokens=self.minimum_tokens(info.model),
                hint="register_model(ModelInfo(...)) states the model's real minimum",
            )
        text_only = self.text_only
        if text_only is None:
            text_only = info.provider.lower() != "anthropic"
        found = existing_markers(context)
        _check_caller_markers(found)

        marked = {site for site, _, _ in found}
        budget = MAX_BREAKPOINTS - len(found)
        chosen: dict[Site, CacheTTL] = {}
        marks_tools = info.provider.lower() in MARKER_APIS
        for site, ttl in self._candidates(context, text_only, marks_tools):
            if site in marked:
                continue
            if budget == 0:
                break
            chosen[site] = ttl
            marked.add(site)
            budget -= 1

        placements = _assign_ttls(found, chosen)
        self._warn_if_short(context, info, max(marked, default=None))
        if not placements:
            return context
        return _apply(context, placements)

    def _candidates(
        self, context: Context, text_only: bool, marks_tools: bool
    ) -> list[tuple[Site, CacheTTL]]:
        """Sites the transform wants, most valuable first, with their desired TTL."""
        stable: CacheTTL = "1h" if self.mode == "1h" else "5m"
        out: list[tuple[Site, CacheTTL]] = []
        messages = context.messages
        tail = last_site(messages, len(messages), text_only)
        previous: Site | None = None
        if tail is not None:
            out.append((tail, "5m"))
            newest_assistant = next(
                (i for i in range(len(messages) - 1, -1, -1) if messages[i].role == "assistant"),
                None,
            )
            if newest_assistant is not None:
                previous = last_site(messages, newest_assistant, text_only)
                if previous is not None:
                    out.append((previous, "5m"))
        system_end = len(context.system) - self.volatile_system_blocks
        for i in range(system_end - 1, -1, -1):
            if not is_blank(context.system[i].text):
                out.append(((SYSTEM, i, 0), stable))
                break
        # Only an API that takes markers on tool definitions gets one there: the
        # OpenAI format has no place for it (the provider would drop it, unseen).
        # Elsewhere the system marker covers the tools, which come first.
        if context.tools and marks_tools:
            out.append(((TOOLS, len(context.tools) - 1, 0), stable))
        if tail is not None and previous is not None and previous != tail:
            distance, bridge = span(messages, previous, tail, text_only)
            if distance >= LOOKBACK and bridge is not None:
                out.append((bridge, "5m"))
        return out

    def _warn_if_short(self, context: Context, info: TransformInfo, last: Site | None) -> None:
        minimum = self.minimum_tokens(info.model)
        # Once looked at in a run, skip the estimate: below the minimum it scans the
        # whole prefix.
        if last is None or minimum <= 0 or not info.once("cache.prefix_checked"):
            return
        estimate = estimate_prefix_tokens(context, last, minimum)
        if estimate >= minimum:
            return
        # Once per process for a model and a stable prefix (tools and system):
        # the same agent run a thousand times is one fact, not a thousand warnings.
        key = (info.model, _stable_prefix_key(context))
        if key in _WARNED_SHORT:
            return
        if len(_WARNED_SHORT) >= _WARNED_SHORT_MAX:
            _WARNED_SHORT.clear()
        _WARNED_SHORT.add(key)
        info.log.warning(
            "cache.prefix_below_minimum",
            estimate=estimate,
            minimum=minimum,
            model=info.model,
            hint=(
                f"prefixes under {minimum} tokens are not cached by this model, so nothing is "
                "saved yet; caching starts once the system prompt, tools and history grow past "
                "it (CacheBreakpoints(mode='off') turns caching off)"
            ),
        )


# (model, stable prefix) pairs already warned about, bounded so no process grows it forever.
_WARNED_SHORT: set[tuple[str, int]] = set()
_WARNED_SHORT_MAX = 4096


def _stable_prefix_key(context: Context) -> int:
    tools = tuple((t.name, t.description, canonical_json(t.parameters)) for t in context.tools)
    return hash((tools, tuple(block.text for block in context.system)))


def _assign_ttls(
    found: list[tuple[Site, CacheTTL, bool]], chosen: dict[Site, CacheTTL]
) -> dict[Site, CacheTTL]:
    """Final TTLs for the new markers, keeping every 1h marker before every 5m one.

    A new marker is 1h when it asks for 1h, or when a caller's 1h marker
    follows it; it is 5m whenever any 5m marker precedes it. Caller markers
    are never changed (their own order was checked already).
    """
    if not chosen:
        return {}
    caller = {site: ttl for site, ttl, _ in found}
    order = sorted([*caller, *chosen])
    caller_1h_after: set[Site] = set()
    later_1h = False
    for site in reversed(order):
        if later_1h:
            caller_1h_after.add(site)
        if caller.get(site) == "1h":
            later_1h = True
    out: dict[Site, CacheTTL] = {}
    seen_5m = False
    for site in order:
        ttl = caller.get(site)
        if ttl is None:
            wants_1h = chosen[site] == "1h" or site in caller_1h_after
            ttl = "1h" if wants_1h and not seen_5m else "5m"
            out[site] = ttl
        seen_5m = seen_5m or ttl == "5m"
    return out


def _apply(context: Context, placements: dict[Site, CacheTTL]) -> Context:
    """A new context with ``placements`` added; untouched parts are shared."""
    grouped: dict[int, dict[int, dict[int, CacheTTL]]] = defaultdict(lambda: defaultdict(dict))
    for (area, index, block), ttl in placements.items():
        grouped[area][index][block] = ttl
    changes: dict[str, Any] = {}
    if TOOLS in grouped:
        tools = list(context.tools)
        for index, blocks in grouped[TOOLS].items():
            tools[index] = attrs.evolve(tools[index], cache_control=_CONTROLS[blocks[0]])
        changes["tools"] = tuple(tools)
    if SYSTEM in grouped:
        system = list(context.system)
        for index, blocks in grouped[SYSTEM].items():
            system[index] = attrs.evolve(system[index], cache_control=_CONTROLS[blocks[0]])
        changes["system"] = tuple(system)
    if MESSAGES in grouped:
        messages = list(context.messages)
        for index, blocks in grouped[MESSAGES].items():
            messages[index] = _mark_message(messages[index], blocks)
        changes["messages"] = tuple(messages)
    return context.evolve(**changes)


def _mark_message(message: Message, blocks: dict[int, CacheTTL]) -> Message:
    content: list[Any] = list(message.content)
    for index, ttl in blocks.items():
        content[index] = attrs.evolve(content[index], cache_control=_CONTROLS[ttl])
    return attrs.evolve(message, content=tuple(content))


#: The default instance: 5-minute markers, on the Anthropic API and for Claude models.
cache_breakpoints = CacheBreakpoints()

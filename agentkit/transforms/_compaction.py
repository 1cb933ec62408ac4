"""Compaction: keep a long session's requests inside the model's context window.

:class:`ClearToolResults` replaces the content of old tool results with a short
placeholder once the request crosses a threshold relative to the model's
window. It changes what is sent, never what the agent keeps: the history the
application holds is untouched.

Cache-aware by construction. The cut (how many of the oldest tool rounds are
cleared) is a pure function of the history, computed by replaying it: the cut
moves only when a request crosses ``threshold``, and then in one large step
down to ``target``. Between two such steps every request shares the same
compacted prefix, so a cache written after a compaction is read on every
following request, and :class:`~agentkit.transforms.CacheBreakpoints` (first in
the pipeline) keeps its markers: a cleared block keeps its ``cache_control``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import attrs
from attrs import define, field

from agentkit._errors import CompactionError
from agentkit._messages import (
    AssistantMessage,
    Context,
    Message,
    TextContent,
    ToolResultMessage,
)
from agentkit._models import find_model
from agentkit.transforms._breakpoints import MESSAGES, estimate_prefix_tokens
from agentkit.transforms._pipeline import TransformInfo

__all__ = ["ClearToolResults", "estimate_tokens"]

PLACEHOLDER = "[tool result cleared to save context]"


def estimate_tokens(context: Context) -> int:
    """Estimated prompt tokens of ``context`` (4 characters a token, a fixed count per image)."""
    return estimate_prefix_tokens(
        context, (MESSAGES, len(context.messages) - 1, sys.maxsize), sys.maxsize
    )


def _fraction(name: str) -> Callable[[object, attrs.Attribute[float], float], None]:
    def check(_: object, __: attrs.Attribute[float], value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
            raise ValueError(f"{name} must be a number in (0, 1], got {value!r}")

    return check


def _groups(messages: tuple[Message, ...]) -> list[tuple[int, int]]:
    """Atomic spans ``(start, end)``: an assistant message with its tool results is one.

    A cut may fall only between spans, so a tool call never loses its result
    and a parallel batch is never split.
    """
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(messages):
        end = i + 1
        message = messages[i]
        if isinstance(message, AssistantMessage) and message.tool_calls:
            while end < len(messages) and isinstance(messages[end], ToolResultMessage):
                end += 1
        spans.append((i, end))
        i = end
    return spans


@define(frozen=True, slots=True)
class ClearToolResults:
    """A transform that clears old tool results once a request nears the context window.

    The window is the model's (from the model registry) unless
    ``context_window`` is given; the usable part leaves room for the request's
    ``max_tokens``. When the request counts more than ``threshold`` of it, the
    oldest tool results (never those of the last ``keep_recent`` rounds) are
    replaced by ``placeholder`` until it counts at most ``target`` of it. The
    tool calls stay, each with its (cleared) result; the system prompt, the
    tools and every other message stay as they are. ``count`` measures a
    context (the estimate by default).

    Raises :class:`~agentkit.transforms.CompactionError` when clearing all it
    may still leaves the request over ``threshold``. A model with no known
    window and no ``context_window`` is sent as it is (logged once per run).
    """

    threshold: float = field(default=0.8, validator=_fraction("threshold"))
    target: float = field(default=0.5, validator=_fraction("target"))
    keep_recent: int = 2
    context_window: int | None = None
    placeholder: str = PLACEHOLDER
    count: Callable[[Context], int] = field(default=estimate_tokens, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.target > self.threshold:
            raise ValueError(f"target ({self.target}) must not exceed threshold ({self.threshold})")
        if isinstance(self.keep_recent, bool) or not isinstance(self.keep_recent, int):
            raise TypeError(f"keep_recent must be an int, got {self.keep_recent!r}")
        if self.keep_recent < 0:
            raise ValueError(f"keep_recent must be at least 0, got {self.keep_recent}")

    def limits(self, info: TransformInfo) -> tuple[int, int] | None:
        """(threshold, target) in tokens for ``info``'s model; None when its window is unknown."""
        window = self.context_window
        if window is None:
            known = find_model(info.model)
            window = None if known is None else known.context_window
        if window is None:
            return None
        usable = max(window - (info.max_tokens or 0), 0)
        return int(usable * self.threshold), int(usable * self.target)

    def __call__(self, context: Context, info: TransformInfo) -> Context:
        limits = self.limits(info)
        if limits is None:
            if info.once("compaction.no_window"):
                info.log.warning("compaction.no_window", hint="pass context_window=")
            return context
        trigger, goal = limits
        before = self.count(context)
        if before <= trigger:
            return context  # already under: unchanged, the same object
        messages = context.messages
        spans = _groups(messages)
        base = self.count(Context(context.system, (), context.tools))
        full = [self._span_tokens(messages, s, cleared=False) for s in spans]
        light = [self._span_tokens(messages, s, cleared=True) for s in spans]
        cut = self._replay(base, full, light, trigger, goal)
        compacted = self._clear(context, spans[:cut])
        tokens = self.count(compacted)
        if tokens > trigger:
            raise CompactionError(
                tokens,
                trigger,
                f"the system prompt, tools and the last {self.keep_recent} rounds do not fit",
            )
        info.log.debug("compaction.cleared", rounds=cut, tokens_before=before, tokens_after=tokens)
        return compacted

    def _replay(self, base: int, full: list[int], light: list[int], trigger: int, goal: int) -> int:
        """The cut after replaying the history span by span, as each request saw it.

        The cut moves only when a prefix crosses ``trigger``, then as far as
        it must to reach ``goal``: the same history always gives the same cut,
        and the cut of a longer history starts from the shorter one's.
        """
        cut = 0
        sent = base
        for end in range(len(full)):
            sent += full[end]
            if sent <= trigger:
                continue
            limit = end + 1 - self.keep_recent
            while sent > goal and cut < limit:
                sent -= full[cut] - light[cut]
                cut += 1
        return cut

    def _span_tokens(
        self, messages: tuple[Message, ...], span: tuple[int, int], *, cleared: bool
    ) -> int:
        part = messages[span[0] : span[1]]
        if cleared:
            part = tuple(self._cleared(m) for m in part)
        # One token more than the span counts on its own: a count that rounds
        # down per span would otherwise add up to less than the whole.
        return self.count(Context(messages=part)) + 1

    def _cleared(self, message: Message) -> Message:
        if not isinstance(message, ToolResultMessage) or not message.content:
            return message
        if len(message.content) == 1 and message.content[0] == TextContent(
            self.placeholder, message.content[0].cache_control
        ):
            return message
        marker = message.content[-1].cache_control
        return attrs.evolve(message, content=(TextContent(self.placeholder, marker),))

    def _clear(self, context: Context, spans: list[tuple[int, int]]) -> Context:
        if not spans:
            return context
        end = spans[-1][1]
        head = tuple(self._cleared(m) for m in context.messages[:end])
        return attrs.evolve(context, messages=(*head, *context.messages[end:]))

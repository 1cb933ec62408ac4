"""Pre-warm and keep-warm for an agent's prompt cache (issue 18, item 6).

A refresh is a ``max_tokens: 0`` request: the service reads (or writes) the
cache at every breakpoint and returns no content, and no output is billed
(reference doc §1.10). Keep-warm replays the agent's last request, so each
refresh is a read at 0.1x that restarts the 5-minute entry's clock.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
import attrs
from anyio.abc import TaskGroup

from agentkit._events import AgentEvent, AgentStart
from agentkit._log import get_logger
from agentkit._messages import (
    AssistantMessage,
    Context,
    Message,
    TextContent,
    Usage,
    UserMessage,
)
from agentkit.transforms._pipeline import TransformInfo

if TYPE_CHECKING:
    from agentkit._agent import Agent

__all__ = ["KeepWarm"]

_log = get_logger("agentkit.providers")

#: The 5-minute entry's lifetime, less a margin for the request's own latency.
DEFAULT_INTERVAL = 240.0
PLACEHOLDER = "(cache warm-up)"

Sleep = Callable[[float], Awaitable[None]]


class KeepWarm:
    """Keeps an idle agent's 5-minute cache entry alive, within a cap.

    ``async with KeepWarm(agent, max_requests=6) as warm:`` refreshes the
    cache every ``interval`` seconds while the agent is idle, by replaying its
    last request with ``max_tokens=0``. A prompt starting stops the pending
    refresh; the timer starts again when the run ends. It stops for good at
    the cap (``max_requests`` refreshes, or ``max_cost`` dollars: it never
    starts a refresh that the last one's cost says would pass the cap) or
    when the block exits. :meth:`prewarm` writes system and tools before the
    first user message. ``usage`` and ``requests`` say what keep-warm spent;
    ``stopped`` says why it stopped (``"max_requests"``, ``"max_cost"``,
    ``"cost_unknown"``), None while it runs; :meth:`wait_stopped` waits for it.
    ``sleep`` is injectable for tests.
    """

    def __init__(
        self,
        agent: Agent[Any],
        *,
        interval: float = DEFAULT_INTERVAL,
        max_requests: int | None = None,
        max_cost: float | None = None,
        sleep: Sleep = anyio.sleep,
    ) -> None:
        if max_requests is None and max_cost is None:
            raise ValueError("KeepWarm needs a cap: max_requests or max_cost")
        if not (math.isfinite(interval) and interval > 0):
            raise ValueError(f"interval must be a positive number of seconds, got {interval!r}")
        if max_requests is not None and max_requests < 0:
            raise ValueError(f"max_requests must be >= 0, got {max_requests!r}")
        if max_cost is not None and not (math.isfinite(max_cost) and max_cost >= 0):
            raise ValueError(f"max_cost must be a non-negative number, got {max_cost!r}")
        self.agent = agent
        self.interval = interval
        self.max_requests = max_requests
        self.max_cost = max_cost
        self.usage = Usage()
        self.requests = 0
        self.stopped: str | None = None
        self._sleep = sleep
        self._last_cost: float | None = 0.0
        self._waiting: anyio.CancelScope | None = None
        self._group: TaskGroup | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._stopped = anyio.Event()
        self._scope = anyio.CancelScope()  # the background task's, not the block's

    def __repr__(self) -> str:
        cost, stopped = self.usage.cost, self.stopped
        return f"KeepWarm(requests={self.requests}, cost={cost!r}, stopped={stopped!r})"

    async def __aenter__(self) -> KeepWarm:
        self._group = anyio.create_task_group()
        await self._group.__aenter__()
        self._unsubscribe = self.agent.subscribe(self._on_event)
        self._group.start_soon(self._background)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        assert self._group is not None
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._scope.cancel()
        return await self._group.__aexit__(kind, error, traceback)

    async def aclose(self) -> None:
        """Stop keeping warm (the block goes on); the block's exit does the same."""
        self._scope.cancel()

    async def _background(self) -> None:
        with self._scope:
            await self._keep_warm()

    async def wait_stopped(self) -> str:
        """Wait until keep-warm stops at its cap; returns the reason (``stopped``)."""
        await self._stopped.wait()
        assert self.stopped is not None
        return self.stopped

    def _on_event(self, event: AgentEvent) -> None:
        if isinstance(event, AgentStart) and self._waiting is not None:
            self._waiting.cancel()  # the prompt refreshes the cache itself

    async def prewarm(self) -> AssistantMessage:
        """Write system and tools to the cache before the first user message.

        The request carries a placeholder user message after the system marker;
        the first real request reads the system and tools entry. Counted in
        ``usage`` and ``requests``, not in the cap.
        """
        return await self._refresh(prewarm=True)

    async def _keep_warm(self) -> None:
        while True:
            await self.agent.wait_for_idle()
            reason = self._over_cap()
            if reason is not None:
                self.stopped = reason
                self._stopped.set()
                _log.info("cache.keep_warm_stopped", reason=reason, requests=self.requests)
                return
            with anyio.CancelScope() as waiting:
                self._waiting = waiting
                await self._sleep(self.interval)
            self._waiting = None
            if waiting.cancelled_caught or self.agent._busy():
                continue  # a prompt came: wait for it to end, then start again
            await self._refresh(prewarm=not self.agent.messages)

    def _over_cap(self) -> str | None:
        if self.max_requests is not None and self.requests >= self.max_requests:
            return "max_requests"
        if self.max_cost is not None:
            spent, last = self.usage.cost, self._last_cost
            if spent is None or last is None:
                return "cost_unknown"
            if spent + last > self.max_cost:
                return "max_cost"
        return None

    def _context(self, prewarm: bool) -> Context:
        agent = self.agent
        messages: tuple[Message, ...] = ()
        if not prewarm:
            history = list(agent.messages)
            while history and isinstance(history[-1], AssistantMessage):
                history.pop()  # the last request ended before the answer
            messages = tuple(history)
        if not messages:
            messages = (UserMessage(PLACEHOLDER),)
        system = agent.system_prompt
        blocks = ((TextContent(system),) if system else ()) if isinstance(system, str) else system
        context = Context(tuple(blocks), messages, tuple(t.definition for t in agent.tools))
        info = TransformInfo(agent.model or "", agent._provider.name, "keep-warm", 1)
        return agent._build_transform_context()(context, info)

    async def _refresh(self, *, prewarm: bool) -> AssistantMessage:
        agent = self.agent
        options = attrs.evolve(agent._model_options(), max_tokens=0)
        answer = await agent._provider.stream(self._context(prewarm), options).result()
        self.requests += 1
        self.usage = self.usage + answer.usage
        self._last_cost = answer.usage.cost
        _log.info(
            "cache.keep_warm",
            prewarm=prewarm,
            requests=self.requests,
            cache_read=answer.usage.cache_read,
            cache_write=answer.usage.cache_write + answer.usage.cache_write_1h,
            cost=answer.usage.cost,
            total_cost=self.usage.cost,
        )
        return answer

"""Showing a run in a terminal: streamed text, tool calls, and what each request cost.

:class:`RunDisplay` consumes a run's events and prints them with rich: the
answer as it arrives, a spinner while the model has not started answering,
each tool call with its arguments and result, and after every request a line
with its uncached input, cache reads and writes, output and cost. Its
:meth:`RunDisplay.summary` is a table of every request seen, ending with the
money caching saved against the same requests without it.
"""

from __future__ import annotations

from collections.abc import AsyncIterable

from attrs import define
from rich.console import Console
from rich.status import Status
from rich.table import Table
from rich.text import Text

from agentkit._events import (
    AgentEvent,
    MessageEnd,
    MessageUpdate,
    TextDelta,
    ThinkingDelta,
    ToolExecutionEnd,
    ToolExecutionStart,
    ToolExecutionUpdate,
    TurnStart,
)
from agentkit._loop import RunResult, RunStream
from agentkit._messages import AssistantMessage, Usage
from agentkit.providers._usage import cost_from_prices

__all__ = ["RequestCost", "RunDisplay", "dollars", "uncached_cost"]

_MAX_SHOWN = 160  # characters of a tool's arguments or result shown inline


def uncached_cost(usage: Usage, model: str) -> float | None:
    """What the same tokens would cost with no caching at all; None if prices are unknown."""
    return cost_from_prices(Usage(input=usage.prompt, output=usage.output), model)


@define(frozen=True, slots=True)
class RequestCost:
    """One model request as the display saw it."""

    number: int
    model: str
    usage: Usage
    uncached: float | None


def dollars(usage: Usage) -> str:
    """``usage.cost`` for a person: ``$0.001234``, or ``unknown`` (never "$0" for unknown);
    ``(partial)`` when the counts are those of a request that did not complete."""
    shown = "unknown" if usage.cost is None else f"${usage.cost:.6f}"
    return f"{shown} (partial)" if usage.partial else shown


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


class RunDisplay:
    """Prints runs to a rich console; keeps the cost of every request it showed."""

    def __init__(self, console: Console | None = None, *, show_thinking: bool = False) -> None:
        self.console = console or Console(highlight=False)
        self.show_thinking = show_thinking
        self.requests: list[RequestCost] = []
        self._status: Status | None = None
        self._mid_line = False

    async def show(self, stream: RunStream) -> RunResult:
        """Print every event of ``stream``; return its result (or raise its error)."""
        try:
            async with stream:
                await self.consume(stream)
                return await stream.result()
        finally:
            self._stop_waiting()
            self._end_line()

    async def consume(self, events: AsyncIterable[AgentEvent]) -> None:
        async for event in events:
            self.on_event(event)

    def on_event(self, event: AgentEvent) -> None:
        match event:
            case TurnStart():
                self._wait("waiting for the model")
            case MessageUpdate(delta=TextDelta(text=text)):
                self._stop_waiting()
                self.console.print(text, end="", markup=False)
                self._mid_line = not text.endswith("\n")
            case MessageUpdate(delta=ThinkingDelta(thinking=thinking)) if self.show_thinking:
                self._stop_waiting()
                self.console.print(Text(thinking, style="dim italic"), end="")
                self._mid_line = True
            case MessageEnd(message=AssistantMessage() as message):
                self._stop_waiting()
                self._end_line()
                self._record(message)
            case ToolExecutionStart(call=call):
                self._end_line()
                arguments = ", ".join(f"{k}={v!r}" for k, v in call.arguments.items())
                self.console.print(f"  [cyan]tool[/] {call.name}({_short(arguments)})")
            case ToolExecutionUpdate(call=call, progress=progress):
                self.console.print(f"  [dim]{call.name}: {_short(progress)}[/]")
            case ToolExecutionEnd(call=call, result=result):
                style = "red" if result.is_error else "green"
                self.console.print(f"  [{style}]→[/] {call.name}: {_short(result.text)}")
                self._wait("waiting for the model")
            case _:
                pass

    def _record(self, message: AssistantMessage) -> None:
        usage = message.usage
        number = len(self.requests) + 1
        uncached = uncached_cost(usage, message.model)
        self.requests.append(RequestCost(number, message.model, usage, uncached))
        derived = " (derived)" if usage.cache_write_derived else ""
        self.console.print(
            f"[dim]  request {number}: input {usage.input:,} · cache read {usage.cache_read:,} "
            f"· cache write {usage.cache_write:,}{derived} "
            f"· output {usage.output:,} · {dollars(usage)}[/]"
        )

    def summary(self) -> Table:
        """Every request shown so far, totals, and what caching saved."""
        table = Table(title="Requests", title_justify="left", show_footer=True)
        total = sum((r.usage for r in self.requests), start=Usage())
        columns = ("#", "input (uncached)", "cache read", "cache write", "output", "cost")
        footers = (
            "total",
            f"{total.input:,}",
            f"{total.cache_read:,}",
            f"{total.cache_write:,}",
            f"{total.output:,}",
            dollars(total),
        )
        for name, footer in zip(columns, footers, strict=True):
            table.add_column(name, footer=footer, justify="right")
        for r in self.requests:
            u = r.usage
            table.add_row(
                str(r.number),
                f"{u.input:,}",
                f"{u.cache_read:,}",
                f"{u.cache_write:,}",
                f"{u.output:,}",
                dollars(u),
            )
        return table

    def savings(self) -> tuple[float, float] | None:
        """(dollars saved, fraction of the uncached cost), or None when a cost is unknown."""
        if not self.requests or any(
            r.uncached is None or r.usage.cost is None for r in self.requests
        ):
            return None
        uncached = sum(r.uncached or 0.0 for r in self.requests)
        actual = sum(r.usage.cost or 0.0 for r in self.requests)
        if uncached <= 0:
            return None
        return uncached - actual, (uncached - actual) / uncached

    def print_summary(self) -> None:
        self.console.print(self.summary())
        saved = self.savings()
        if saved is None:
            unpriced = sorted(
                {r.model for r in self.requests if r.uncached is None or r.usage.cost is None}
            )
            self.console.print(
                f"[dim]Cost unknown for {', '.join(unpriced) or 'these requests'}: "
                "savings unknown.[/]"
            )
            return
        dollars, share = saved
        if not any(r.usage.cache_read or r.usage.cache_write for r in self.requests):
            self.console.print("No cache reads or writes: caching changed nothing.")
            return
        verb = "saved" if dollars >= 0 else "cost an extra"
        self.console.print(
            f"Caching {verb} [bold]${abs(dollars):.6f}[/] "
            f"({abs(share):.0%}) against the same requests without caching."
        )

    def _wait(self, message: str) -> None:
        if self._status is None and self.console.is_terminal:
            self._status = self.console.status(message, spinner="dots")
            self._status.start()

    def _stop_waiting(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def _end_line(self) -> None:
        if self._mid_line:
            self.console.print()
            self._mid_line = False

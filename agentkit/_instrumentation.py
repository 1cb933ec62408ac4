"""The one seam between a run and an instrumentation (:mod:`agentkit.otel`).

Everything an instrumentation records it can learn from a run's events except
three things: how a run ended when it failed (a failed run has no
``AgentEnd``), the span to make *current* around a model request (so HTTP
client spans nest under it), and the span to make current while a tool's
code runs (so the tool's own spans nest under it). This module is that seam.

:func:`installed` is ``None`` unless an instrumentation is turned on
(:func:`install`). The loop asks once per run; with nothing installed a run
pays that call and one attribute read per model request and tool call: no
wrapper around the listener, no per-event cost. An installed
:class:`Instrumentation` returns a :class:`RunInstrumentation` per run,
which the loop uses in exactly four places, all in the run's own tasks: it
wraps the run's listener; its :meth:`~RunInstrumentation.run` is entered
around the whole run, its :meth:`~RunInstrumentation.model_call` around each
model request (from ``Provider.stream`` to the answer's ``MessageEnd``), and
its :meth:`~RunInstrumentation.tool_call` around each ``Tool.execute``
(through ``ToolEnvironment.around_tool``). Nothing here imports an
instrumentation library.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from agentkit._loop import EventListener, LoopConfig
    from agentkit._messages import Context, ToolCall

__all__ = ["NULL_CONTEXT", "Instrumentation", "RunInstrumentation", "install", "installed"]

# Reusable (a nullcontext keeps no state): the off path allocates nothing.
NULL_CONTEXT: AbstractContextManager[None] = nullcontext()


class RunInstrumentation(Protocol):
    """One run's instrumentation."""

    def run(self) -> AbstractContextManager[None]:
        """Entered around the whole run, in its producer: sees how the run ended."""
        ...

    def listener(self, inner: EventListener | None) -> EventListener:
        """The run's listener: sees every event, then hands it to ``inner``."""
        ...

    def model_call(self, context: Context) -> AbstractContextManager[None]:
        """Entered around one model request for ``context`` (after the transforms)."""
        ...

    def tool_call(self, call: ToolCall) -> AbstractContextManager[None]:
        """Entered around ``Tool.execute`` for ``call``, in the task that runs it."""
        ...


class Instrumentation(Protocol):
    """What :func:`install` takes: makes each run's :class:`RunInstrumentation`."""

    def start_run(
        self, run_id: str, config: LoopConfig, owner: object | None
    ) -> RunInstrumentation | None:
        """Called once as a run starts, in its producer; None leaves the run alone."""
        ...


_installed: Instrumentation | None = None


def installed() -> Instrumentation | None:
    """The process's instrumentation, or None (the default: nothing is recorded)."""
    return _installed


def install(instrumentation: Instrumentation | None) -> None:
    """Make ``instrumentation`` the process's (None turns it off); for :mod:`agentkit.otel`."""
    global _installed  # noqa: PLW0603 - the one process-wide switch, read once per run
    _installed = instrumentation

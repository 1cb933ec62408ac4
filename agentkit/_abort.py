"""AbortSignal: stops a run at once, from any task of its event loop."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import anyio

__all__ = ["AbortSignal"]


class AbortSignal:
    """Aborts a run: cancels its provider stream and running tools at once.

    Call :meth:`abort` from the same event loop as the run (a task, a
    listener, a tool). Work that abort must interrupt runs inside
    ``with signal.scope():``; :meth:`on_abort` registers what else must happen
    at the moment of the abort.
    """

    __slots__ = ("_aborted", "_callbacks", "_scopes")

    def __init__(self) -> None:
        self._aborted = False
        self._scopes: set[anyio.CancelScope] = set()
        self._callbacks: list[Callable[[], None]] = []

    @property
    def aborted(self) -> bool:
        return self._aborted

    def abort(self) -> None:
        """Abort; the second and later calls do nothing."""
        if self._aborted:
            return
        self._aborted = True
        for scope in tuple(self._scopes):
            scope.cancel()
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    @contextmanager
    def scope(self) -> Iterator[anyio.CancelScope]:
        """A cancel scope that :meth:`abort` cancels (already cancelled if aborted)."""
        with anyio.CancelScope() as scope:
            if self._aborted:
                scope.cancel()
            self._scopes.add(scope)
            try:
                yield scope
            finally:
                self._scopes.discard(scope)

    def on_abort(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` (synchronously) when :meth:`abort` is first called.

        Returns the function that unregisters it: a signal shared by many runs
        must not keep every finished run's callback.
        """
        if self._aborted:
            callback()
            return lambda: None
        self._callbacks.append(callback)

        def unregister() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return unregister

"""EventStream: typed events from a background producer, then one final result.

The producer is an async function given the stream; it calls ``await push()``
for each event and ends with ``end(result)`` or ``set_exception(exc)``. The
consumer reads events and the outcome in one of three ways:

* ``async with stream:`` (structured): the producer runs in a task group the
  block owns; leaving the block, however it is left, stops the producer and
  waits for it to finish;
* ``await stream.result()`` on a stream nobody has started: the same, with
  the events discarded; cancelling the await stops and awaits the producer;
* plain ``async for`` (convenient): the producer runs in a background task
  (an asyncio task with a done callback, or a trio system task) that is
  stopped when the iteration ends, fails, is cancelled, or its iterator is
  released (``break``).

Why it cannot hang:

* the terminal outcome is stored before waiters are woken, so a consumer can
  never see "ended" without the error;
* ``end`` and ``set_exception`` never block (safe in ``finally`` under
  cancellation);
* the producer runs inside a wrapper that forwards any exception, a return
  without an outcome, and cancellation by anyone but the consumer, and that
  always wakes every waiter when the producer finishes; on asyncio a done
  callback also covers a task cancelled before its first step;
* a ``push`` or a consumer's next step that waits is a cancellation
  checkpoint; ``push_many`` checks once per batch and the fast paths every
  64th operation, so a cancelled task moves at most that many ready events
  (an abort stops model deltas at once: the loop drops them).

The buffer is bounded (``buffer_size``): a slow consumer makes ``push`` wait,
it never makes the producer buffer without bound.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Generic, TypeVar

import anyio
import anyio.abc
import anyio.lowlevel
from attrs import define

from agentkit._errors import (
    ProducerExitedError,
    StreamCancelledError,
    StreamClosedError,
    StreamError,
)
from agentkit._log import get_logger

if TYPE_CHECKING:
    from typing import Self

__all__ = ["EventStream", "StreamStatistics"]

E = TypeVar("E")
R = TypeVar("R")

_log = get_logger("agentkit.stream")
_checkpoint_if_cancelled = anyio.lowlevel.checkpoint_if_cancelled
# anyio's cancellation check costs about 1 µs on asyncio, a third of what an event
# costs end to end: push_many checks once per batch, a push that waited for space
# after its wake-up, and the fast paths every 64th time, which bounds how many
# ready events a cancelled task can still move. Waiting is itself a checkpoint.
_CHECK_EVERY_MASK = 63


@define(frozen=True, slots=True)
class StreamStatistics:
    """A snapshot of a stream, for debugging and tests."""

    buffered: int
    done: bool
    consumer_closed: bool
    producer_done: bool


class _Outcome(Generic[R]):
    __slots__ = ("error", "value")

    def __init__(self, value: R | None = None, error: BaseException | None = None) -> None:
        self.value = value
        self.error = error


class EventStream(Generic[E, R]):
    """An async iterable of events of type ``E`` with a final result of type ``R``.

    Use it structured::

        async with agent_loop(...) as stream:
            async for event in stream:
                ...
            result = await stream.result()

    or plainly: ``await stream.result()`` runs the producer to the end in the
    caller's task (discarding the events); a plain ``async for`` runs it in a
    background task stopped when the loop ends or its iterator is released.
    Events go to one iteration only: a second ``async for`` raises
    :class:`~agentkit.StreamError`. ``result()`` may be awaited any number of
    times, from any task, and raises the exception the stream ended with.
    """

    __slots__ = (
        "__weakref__",
        "_buffer",
        "_buffer_size",
        "_cancelled",
        "_consumer_closed",
        "_data_waiters",
        "_iterated",
        "_iterating",
        "_name",
        "_ops",
        "_outcome",
        "_producer",
        "_producer_done",
        "_producer_scope",
        "_space_waiters",
        "_started",
        "_structured",
        "_task",
        "_task_group",
    )

    def __init__(
        self,
        producer: Callable[[EventStream[E, R]], Awaitable[None]] | None = None,
        *,
        buffer_size: int = 256,
        name: str = "stream",
    ) -> None:
        if buffer_size < 1:
            raise ValueError(f"buffer_size must be at least 1, got {buffer_size}")
        self._producer = producer
        self._buffer: deque[E] = deque()
        self._buffer_size = buffer_size
        self._name = name
        self._outcome: _Outcome[R] | None = None
        self._consumer_closed = False
        self._cancelled = False
        self._data_waiters: list[anyio.Event] = []
        self._space_waiters: list[anyio.Event] = []
        self._iterated = False
        self._iterating = False
        self._ops = 0
        self._started = producer is None
        self._structured = False
        self._producer_done = producer is None
        self._producer_scope: anyio.CancelScope | None = None
        self._task: asyncio.Task[None] | None = None
        self._task_group: anyio.abc.TaskGroup | None = None

    def __repr__(self) -> str:
        if self._outcome is None:
            state = "open"
        elif self._outcome.error is not None:
            state = f"failed: {type(self._outcome.error).__name__}"
        else:
            state = "ended"
        return f"<EventStream {self._name} {state}, {len(self._buffer)} buffered>"

    def statistics(self) -> StreamStatistics:
        """Buffered events and state, for debugging and tests."""
        return StreamStatistics(
            len(self._buffer), self.done, self._consumer_closed, self._producer_done
        )

    @property
    def done(self) -> bool:
        """True once the outcome (result or exception) is known."""
        return self._outcome is not None

    @property
    def consumer_closed(self) -> bool:
        """True once the consumer has left before the end (its outcome is StreamClosedError)."""
        return self._consumer_closed

    # ------------------------------------------------------------------ producer side

    async def push(self, event: E) -> None:
        """Queue ``event``; waits only while the buffer is full.

        When it raises (cancelled, or the stream closed), ``event`` was not queued.
        """
        self._ops += 1
        if not self._ops & _CHECK_EVERY_MASK:
            await _checkpoint_if_cancelled()
        while True:
            if self._consumer_closed:
                raise StreamClosedError(f"{self._name}: the consumer has closed the stream")
            if self._outcome is not None:
                raise StreamClosedError(f"{self._name}: push after the stream ended")
            if self._cancelled:
                raise StreamClosedError(f"{self._name}: the consumer has cancelled the stream")
            if len(self._buffer) < self._buffer_size:
                break
            waiter = anyio.Event()
            self._space_waiters.append(waiter)
            await waiter.wait()
            # A cancellation that arrived with the wake-up wins over the space.
            await _checkpoint_if_cancelled()
        self._buffer.append(event)
        if self._data_waiters:
            self._wake(self._data_waiters)

    async def push_many(self, events: Iterable[E]) -> None:
        """Queue ``events`` in order: :meth:`push` for each, with one wake-up for the lot."""
        await _checkpoint_if_cancelled()
        buffer, size = self._buffer, self._buffer_size
        for event in events:
            if len(buffer) < size and not (
                self._consumer_closed or self._outcome is not None or self._cancelled
            ):
                buffer.append(event)
                continue
            if self._data_waiters:  # the reader must run before we wait for space
                self._wake(self._data_waiters)
            await self.push(event)
        if self._data_waiters:
            self._wake(self._data_waiters)

    def end(self, result: R) -> None:
        """Finish the stream with ``result``; never blocks.

        A producer being cancelled (see :meth:`cancel`) may still end with a
        result, such as a partial answer, before it re-raises the cancellation.
        """
        self._finish(_Outcome(value=result))

    def set_exception(self, exc: BaseException) -> None:
        """Finish the stream with ``exc``, delivered after every event already queued."""
        if isinstance(exc, anyio.get_cancelled_exc_class()):
            wrapped = StreamCancelledError(f"{self._name}: the producer was cancelled")
            wrapped.__cause__ = exc
            exc = wrapped
        self._finish(_Outcome(error=exc))

    def _finish(self, outcome: _Outcome[R]) -> None:
        if self._consumer_closed:
            return  # the consumer left; it already has its outcome
        if self._outcome is not None:
            raise StreamClosedError(f"{self._name}: the stream has already ended")
        self._outcome = outcome
        self._wake(self._data_waiters)
        self._wake(self._space_waiters)

    def discard(self, unwanted: Callable[[E], bool]) -> int:
        """Drop the queued, not yet delivered events for which ``unwanted`` is true.

        For producers that supersede what they queued (an aborted run drops
        the model's deltas, whose text its final message carries). Returns how
        many were dropped.
        """
        kept = [event for event in self._buffer if not unwanted(event)]
        dropped = len(self._buffer) - len(kept)
        if dropped:
            self._buffer.clear()
            self._buffer.extend(kept)
            self._wake(self._space_waiters)
        return dropped

    @staticmethod
    def _wake(waiters: list[anyio.Event]) -> None:
        for waiter in waiters:
            waiter.set()
        waiters.clear()

    # ------------------------------------------------------------------ running the producer

    async def _run_producer(self) -> None:
        assert self._producer is not None
        cancelled = anyio.get_cancelled_exc_class()
        try:
            with anyio.CancelScope() as scope:
                self._producer_scope = scope
                if self._consumer_closed or self._cancelled:
                    scope.cancel()
                await self._producer(self)
            if self._outcome is None and scope.cancelled_caught:
                self._fail(StreamCancelledError(f"{self._name}: the producer was cancelled"))
            elif self._outcome is None:
                self._fail(ProducerExitedError(f"{self._name}: producer returned without ending"))
        except cancelled as exc:
            self._fail(exc)
            raise
        except Exception as exc:
            self._fail(exc)
        except BaseException as exc:
            # KeyboardInterrupt, SystemExit: the consumer raises it in its own task.
            # Raised here too, it would cancel the consumer's task group (trio) or
            # escape the asyncio event loop, and the consumer would never see it.
            if self._consumer_closed or self._outcome is not None:
                raise  # nobody left to raise it
            self._fail(exc)
        finally:
            self._producer_finished()

    def _producer_finished(self) -> None:
        self._producer_done = True
        self._producer_scope = None
        self._wake(self._data_waiters)
        self._wake(self._space_waiters)

    def _fail(self, exc: BaseException) -> None:
        if self._consumer_closed:
            return
        if self._outcome is None:
            self.set_exception(exc)
        elif not isinstance(exc, anyio.get_cancelled_exc_class()):
            # The producer raised after ending: too late for the consumer, never silent.
            _log.error("stream.producer_failed_after_end", stream=self._name, error=repr(exc))

    def _start_detached(self) -> None:
        self._started = True
        if _running_on_trio():
            import trio  # noqa: PLC0415 - only when running on trio

            trio.lowlevel.spawn_system_task(
                self._run_detached,
                name=f"agentkit:{self._name}",
                context=contextvars.copy_context(),
            )
        else:
            self._task = asyncio.get_running_loop().create_task(
                self._run_detached(), name=f"agentkit:{self._name}"
            )
            self._task.add_done_callback(self._on_task_done)

    async def _run_detached(self) -> None:
        # The wrapper has forwarded every outcome to the consumer, which raises it in
        # its own task: re-raising here too would crash trio (a system task must not
        # raise) or the asyncio loop, and report one failure twice.
        try:
            await self._run_producer()
        except anyio.get_cancelled_exc_class():
            return
        except BaseException as exc:
            if self._consumer_closed:
                _log.error("stream.producer_failed_unread", stream=self._name, error=repr(exc))
            return

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        # Covers a task cancelled before its first step, which the wrapper never sees.
        if task.cancelled() and self._outcome is None and not self._consumer_closed:
            self.set_exception(StreamCancelledError(f"{self._name}: the producer was cancelled"))
        self._producer_finished()

    def _cancel_producer(self) -> None:
        if self._producer_done:
            return
        if self._producer_scope is not None:
            self._producer_scope.cancel()
        elif self._task is not None:
            self._task.cancel()

    # ------------------------------------------------------------------ consumer side

    def cancel(self) -> None:
        """Stop the producer, keeping the stream's outcome; never blocks.

        Queued events are dropped and no more are accepted. The producer may
        still end the stream with a result (agentkit's providers end with the
        partial answer, ``StopReason.ABORTED``); otherwise the outcome is
        :class:`~agentkit.StreamCancelledError`. Await :meth:`result` for it.
        """
        if self._outcome is not None or self._cancelled:
            return
        self._cancelled = True
        self._buffer.clear()
        self._wake(self._space_waiters)
        self._cancel_producer()

    def _close_from_consumer(self) -> None:
        if self._consumer_closed:
            return
        if self._outcome is None:
            self._outcome = _Outcome(
                error=StreamClosedError(f"{self._name}: closed by its consumer before the end")
            )
        self._consumer_closed = True
        self._buffer.clear()
        self._wake(self._space_waiters)
        self._wake(self._data_waiters)
        self._cancel_producer()

    async def aclose(self) -> None:
        """Stop consuming: cancel the producer and wait until it has finished."""
        self._close_from_consumer()
        # Shielded: the producer was cancelled above, so it finishes promptly, and
        # a consumer cancelled here must still not leave it running.
        with anyio.CancelScope(shield=True):
            await self._wait_producer_done()
        await _checkpoint_if_cancelled()

    async def _wait_producer_done(self) -> None:
        while self._started and not self._producer_done:
            await self._wait_for_data()

    async def _wait_for_data(self) -> None:
        waiter = anyio.Event()
        self._data_waiters.append(waiter)
        await waiter.wait()

    def __aiter__(self) -> _EventIterator[E, R]:
        if self._iterated:
            raise StreamError(
                f"{self._name}: an EventStream can be iterated only once; "
                "use await stream.result() for its outcome"
            )
        self._iterated = True
        self._iterating = True
        return _EventIterator(self)

    async def _next(self) -> E:
        self._ops += 1
        if not self._ops & _CHECK_EVERY_MASK:
            await _checkpoint_if_cancelled()
        while True:
            if self._buffer:
                event = self._buffer.popleft()
                if self._space_waiters:
                    self._wake(self._space_waiters)
                return event
            outcome = self._outcome
            if outcome is not None:
                if outcome.error is not None:
                    # A scope cancelled around both consumer and producer makes the
                    # producer fail first; the consumer must see its own cancellation.
                    await _checkpoint_if_cancelled()
                    raise outcome.error
                raise StopAsyncIteration
            if not self._started:
                self._start_detached()
            await self._wait_for_data()

    async def result(self) -> R:
        """The final result, or the exception that ended the stream.

        On a stream nobody has started, this runs the producer in the caller's
        task and discards the events; cancelling it stops the producer and
        waits for it. Otherwise it waits for the outcome, discarding events
        only if no iteration is in progress; cancelling it leaves the stream be.
        """
        if not self._started:
            self._iterated = True
            async with self:
                return await self._await_outcome()
        return await self._await_outcome()

    async def _await_outcome(self) -> R:
        while self._outcome is None:
            if not self._iterating and self._buffer:
                # Nobody reads the events: drop them so the producer never blocks.
                self._buffer.clear()
                self._wake(self._space_waiters)
                continue
            await self._wait_for_data()
        if self._outcome.error is not None:
            await _checkpoint_if_cancelled()
            raise self._outcome.error
        return self._outcome.value  # type: ignore[return-value]

    # ------------------------------------------------------------------ structured form

    async def __aenter__(self) -> Self:
        if self._started:
            raise StreamError(f"{self._name}: the stream has already started")
        self._started = True
        self._structured = True
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        self._task_group.start_soon(self._run_producer, name=f"agentkit:{self._name}")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._task_group is not None
        outcome = self._outcome
        if (
            isinstance(exc, anyio.get_cancelled_exc_class())
            and outcome is not None
            and isinstance(outcome.error, StreamCancelledError)
            and not self._cancelled
        ):
            # A scope cancelled around the block stopped the producer before the
            # consumer noticed: the consumer left, so report it as it would be otherwise.
            self._outcome = _Outcome(
                error=StreamClosedError(f"{self._name}: closed by its consumer before the end")
            )
            self._consumer_closed = True
        if not self._producer_done:
            if self._outcome is None and not self._cancelled:
                self._close_from_consumer()
            else:
                self._cancel_producer()
        # The body's own exception propagates as itself, never wrapped in a group:
        # the producer was stopped above, and its wrapper raises only cancellation
        # or a BaseException that the consumer also receives as the outcome.
        try:
            await self._task_group.__aexit__(None, None, None)
        except BaseExceptionGroup as group:
            if exc is not None:
                return None  # the body's exception wins; the outcome carries the rest
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise
        return None


class _EventIterator(Generic[E, R]):
    """One pass over a stream's events; in plain use, dropping it early closes the stream."""

    __slots__ = ("_finished", "_stream")

    def __init__(self, stream: EventStream[E, R]) -> None:
        self._stream = stream
        self._finished = False

    def __aiter__(self) -> _EventIterator[E, R]:
        return self

    async def __anext__(self) -> E:
        try:
            return await self._stream._next()
        except (StopAsyncIteration, Exception):
            self._finish()
            raise
        except BaseException:
            # Cancelled (or interrupted) while waiting. Structured, the block's exit
            # decides; plain, the consumer is gone.
            if not self._stream._structured:
                self._finish()
                self._stream._close_from_consumer()
            raise

    def _finish(self) -> None:
        self._finished = True
        self._stream._iterating = False

    async def aclose(self) -> None:
        self._finish()
        await self._stream.aclose()

    def __del__(self) -> None:
        # Breaking out of a plain ``async for`` drops the iterator: stop the producer.
        # Structured, the ``async with`` block's exit does that.
        stream = self._stream
        stream._iterating = False
        if not self._finished and not stream.done and not stream._structured:
            try:
                stream._close_from_consumer()
            except RuntimeError:  # cancelling a task whose event loop is already closed
                return


def _running_on_trio() -> bool:
    trio = sys.modules.get("trio")
    if trio is None:
        return False
    try:
        return bool(trio.lowlevel.in_trio_run())
    except AttributeError:  # pragma: no cover - trio older than in_trio_run()
        return False

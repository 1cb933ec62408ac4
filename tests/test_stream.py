"""EventStream guarantees, on asyncio and trio: no hang, no lost event, no task left behind."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import anyio
import anyio.lowlevel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from agentkit import (
    EventStream,
    ProducerExitedError,
    StreamCancelledError,
    StreamClosedError,
    StreamError,
)

pytestmark = pytest.mark.anyio

Stream = EventStream[int, str]


class Boom(Exception):
    pass


def counting(
    n: int, *, then: Callable[[Stream], None] | None = None
) -> Callable[[Stream], Awaitable[None]]:
    async def produce(out: Stream) -> None:
        for i in range(n):
            await out.push(i)
        if then is None:
            out.end(f"done {n}")
        else:
            then(out)

    return produce


async def collect(stream: Stream) -> list[int]:
    return [event async for event in stream]


@settings(max_examples=25, deadline=None)
@given(n=st.integers(0, 600), buffer_size=st.integers(1, 64))
async def test_events_arrive_in_order_and_none_is_lost(n: int, buffer_size: int) -> None:
    with anyio.fail_after(5):
        stream = EventStream(counting(n), buffer_size=buffer_size)
        assert await collect(stream) == list(range(n))
        assert await stream.result() == f"done {n}"


@settings(max_examples=25, deadline=None)
@given(n=st.integers(0, 300), buffer_size=st.integers(1, 16))
async def test_structured_form_delivers_everything(n: int, buffer_size: int) -> None:
    with anyio.fail_after(5):
        async with EventStream(counting(n), buffer_size=buffer_size) as stream:
            assert await collect(stream) == list(range(n))
            assert await stream.result() == f"done {n}"


@pytest.mark.parametrize("structured", [False, True])
@pytest.mark.parametrize("events_before", [0, 1, 5])
async def test_producer_exception_reaches_consumer_after_earlier_events(
    structured: bool, events_before: int
) -> None:
    error = Boom("provider failed")

    async def produce(out: Stream) -> None:
        for i in range(events_before):
            await out.push(i)
        raise error

    with anyio.fail_after(2):
        stream = EventStream(produce)
        seen: list[int] = []
        with pytest.raises(Boom) as caught:
            if structured:
                async with stream:
                    async for event in stream:
                        seen.append(event)
            else:
                async for event in stream:
                    seen.append(event)
        assert caught.value is error
        assert seen == list(range(events_before))
        with pytest.raises(Boom) as again:
            await stream.result()
        assert again.value is error


async def test_set_exception_is_delivered_after_queued_events() -> None:
    with anyio.fail_after(2):
        stream = EventStream(counting(3, then=lambda out: out.set_exception(Boom("late"))))
        seen: list[int] = []
        with pytest.raises(Boom, match="late"):
            async for event in stream:
                seen.append(event)
        assert seen == [0, 1, 2]


async def test_producer_that_returns_without_ending_does_not_hang() -> None:
    async def produce(out: Stream) -> None:
        await out.push(1)

    with anyio.fail_after(2):
        stream = EventStream(produce)
        with pytest.raises(ProducerExitedError):
            await collect(stream)


async def test_producer_that_never_pushes_does_not_hang() -> None:
    async def produce(out: Stream) -> None:
        return None

    with anyio.fail_after(2):
        with pytest.raises(ProducerExitedError):
            await EventStream(produce).result()


async def test_producer_cancelled_from_outside_reaches_consumer() -> None:
    async def produce(out: Stream) -> None:
        await out.push(1)
        await anyio.sleep_forever()

    with anyio.fail_after(2):
        stream = EventStream(produce)
        iterator = aiter(stream)
        assert await anext(iterator) == 1
        # The consumer cancels the producer but keeps the stream: the outcome stays
        # the producer's, which here is having been cancelled.
        stream.cancel()
        with pytest.raises(StreamCancelledError):
            await anext(iterator)
        with pytest.raises(StreamCancelledError):
            await stream.result()


async def test_a_cancelled_producer_may_still_end_with_a_result() -> None:
    async def produce(out: Stream) -> None:
        await out.push(1)
        await out.push(2)
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            out.end("partial")
            raise

    with anyio.fail_after(2):
        async with EventStream(produce) as stream:
            iterator = aiter(stream)
            assert await anext(iterator) == 1
            stream.cancel()  # the queued 2 is dropped, the producer's outcome kept
            assert [event async for event in iterator] == []
            assert await stream.result() == "partial"


async def test_aclose_before_the_producers_first_step_returns() -> None:
    # Regression: on asyncio the producer task, cancelled before its first step,
    # never woke the closing consumer, whose shielded wait then hung forever.
    started = False

    async def produce(out: Stream) -> None:
        nonlocal started
        started = True
        out.end("never")

    with anyio.fail_after(2):
        stream = EventStream(produce)
        async with anyio.create_task_group() as tasks:

            async def consume() -> None:
                with pytest.raises(StreamClosedError):
                    await anext(aiter(stream))

            tasks.start_soon(consume)
            await anyio.lowlevel.checkpoint()  # consume() starts the producer task
            await stream.aclose()
        # Whichever ran first, the producer is not left running.
        assert stream.statistics().producer_done or not started


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_asyncio_task_cancelled_while_running(anyio_backend: str) -> None:
    async def produce(out: Stream) -> None:
        await out.push(0)
        await anyio.sleep_forever()

    with anyio.fail_after(2):
        stream = EventStream(produce)
        iterator = aiter(stream)
        assert await anext(iterator) == 0
        # Something other than the consumer (a shutdown, say) cancels the task.
        (task,) = [t for t in asyncio.all_tasks() if t.get_name() == "agentkit:stream"]
        task.cancel()
        with pytest.raises(StreamCancelledError):
            await anext(iterator)
        await stream.aclose()
        assert task.done()


def _sleeping_producer(log: list[str]) -> Callable[[Stream], Awaitable[None]]:
    async def produce(out: Stream) -> None:
        try:
            i = 0
            while True:
                await out.push(i)
                i += 1
                await anyio.sleep(0.001)
        finally:
            log.append("producer stopped")

    return produce


async def test_breaking_out_of_plain_iteration_stops_the_producer() -> None:
    log: list[str] = []
    with anyio.fail_after(2):
        stream = EventStream(_sleeping_producer(log))
        async for event in stream:
            if event == 3:
                break
        # Plain iteration: the release of the iterator cancelled the producer;
        # aclose() waits for it to finish.
        await stream.aclose()
        assert log == ["producer stopped"]
        assert stream.statistics().producer_done
        with pytest.raises(StreamClosedError, match="closed by its consumer"):
            await stream.result()


async def test_leaving_the_structured_block_early_stops_the_producer() -> None:
    log: list[str] = []
    with anyio.fail_after(2):
        async with EventStream(_sleeping_producer(log)) as stream:
            async for event in stream:
                if event == 2:
                    break
        # The block waited for the producer: it has stopped already.
        assert log == ["producer stopped"]


async def test_consumer_cancelled_while_waiting_stops_the_producer() -> None:
    log: list[str] = []

    async def produce(out: Stream) -> None:
        try:
            await out.push(0)
            await anyio.sleep_forever()
        finally:
            log.append("producer stopped")

    with anyio.fail_after(2):
        stream = EventStream(produce)
        seen = []
        with anyio.move_on_after(0.05):
            async for event in stream:
                seen.append(event)
        await stream.aclose()
        assert seen == [0]
        assert log == ["producer stopped"]
        with pytest.raises(StreamClosedError):
            await stream.result()


async def test_aclose_waits_for_the_producer() -> None:
    log: list[str] = []
    with anyio.fail_after(2):
        stream = EventStream(_sleeping_producer(log))
        iterator = aiter(stream)
        await anext(iterator)
        await stream.aclose()
        assert log == ["producer stopped"]


async def test_result_without_iterating_drains_the_events() -> None:
    with anyio.fail_after(2):
        stream = EventStream(counting(1000), buffer_size=8)
        assert await stream.result() == "done 1000"
        assert await stream.result() == "done 1000"


async def test_result_awaited_concurrently_with_iteration() -> None:
    with anyio.fail_after(2):
        stream = EventStream(counting(50), buffer_size=4)
        results: list[str] = []
        async with anyio.create_task_group() as tasks:

            async def wait_result() -> None:
                results.append(await stream.result())

            iterator = aiter(stream)  # claims the events before result() runs
            tasks.start_soon(wait_result)
            seen = [event async for event in iterator]
        assert seen == list(range(50))
        assert results == ["done 50"]


async def test_iterating_twice_is_an_error() -> None:
    with anyio.fail_after(2):
        stream = EventStream(counting(2))
        assert await collect(stream) == [0, 1]
        with pytest.raises(StreamError, match="only once"):
            aiter(stream)
        assert await stream.result() == "done 2"


async def test_a_slow_consumer_bounds_the_buffer() -> None:
    peak = 0

    async def produce(out: Stream) -> None:
        nonlocal peak
        for i in range(200):
            await out.push(i)
            peak = max(peak, out.statistics().buffered)
        out.end("ok")

    with anyio.fail_after(5):
        stream = EventStream(produce, buffer_size=4)
        seen = []
        async for event in stream:
            seen.append(event)
            await anyio.lowlevel.checkpoint()
        assert seen == list(range(200))
        assert peak <= 4


async def test_push_after_end_and_double_end_are_errors() -> None:
    problems: list[str] = []

    async def produce(out: Stream) -> None:
        out.end("first")
        with pytest.raises(StreamClosedError):
            await out.push(1)
        with pytest.raises(StreamClosedError):
            out.end("second")
        problems.append("checked")

    with anyio.fail_after(2):
        stream = EventStream(produce)
        assert await stream.result() == "first"
        assert problems == ["checked"]


async def test_exception_after_end_is_logged_not_lost() -> None:
    async def produce(out: Stream) -> None:
        out.end("ok")
        raise Boom("cleanup failed")

    with anyio.fail_after(2), capture_logs() as logs:
        async with EventStream(produce) as stream:
            assert await stream.result() == "ok"
    assert [entry["event"] for entry in logs] == ["stream.producer_failed_after_end"]
    assert logs[0]["log_level"] == "error"


async def test_consumer_side_exception_in_structured_block_propagates_and_stops_producer() -> None:
    log: list[str] = []
    with anyio.fail_after(2):
        with pytest.raises(Boom, match="consumer"):
            async with EventStream(_sleeping_producer(log)) as stream:
                async for _ in stream:
                    raise Boom("consumer")
        assert log == ["producer stopped"]


async def test_starting_twice_in_structured_form_is_an_error() -> None:
    with anyio.fail_after(2):
        stream = EventStream(counting(1))
        assert await stream.result() == "done 1"
        with pytest.raises(StreamError, match="already started"):
            async with stream:
                pass


async def test_stream_without_producer_is_a_plain_channel() -> None:
    with anyio.fail_after(2):
        stream: Stream = EventStream()
        async with anyio.create_task_group() as tasks:

            async def feed() -> None:
                for i in range(3):
                    await stream.push(i)
                stream.end("fed")

            tasks.start_soon(feed)
            assert await collect(stream) == [0, 1, 2]
        assert await stream.result() == "fed"


def test_buffer_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="buffer_size"):
        EventStream(counting(1), buffer_size=0)


def test_repr_names_the_state() -> None:
    stream = EventStream(counting(1), name="demo")
    assert repr(stream) == "<EventStream demo open, 0 buffered>"


async def test_a_scope_cancelled_around_consumer_and_producer_cancels_the_consumer() -> None:
    # The producer is cancelled by the same scope as its consumer and may fail
    # first; the consumer must see its own cancellation, not the producer's error.
    log: list[str] = []
    with anyio.fail_after(2):
        with anyio.CancelScope() as outer:
            async with EventStream(_sleeping_producer(log)) as stream:
                async for event in stream:
                    if event == 2:
                        outer.cancel()
        assert outer.cancelled_caught
        assert log == ["producer stopped"]


@settings(max_examples=20, deadline=None)
@given(batches=st.lists(st.integers(0, 40), max_size=20), buffer_size=st.integers(1, 16))
async def test_push_many_keeps_order_and_bounds_the_buffer(
    batches: list[int], buffer_size: int
) -> None:
    peak = 0

    async def produce(out: Stream) -> None:
        nonlocal peak
        number = 0
        for size in batches:
            await out.push_many(range(number, number + size))
            number += size
            peak = max(peak, out.statistics().buffered)
        out.end("batched")

    with anyio.fail_after(5):
        stream = EventStream(produce, buffer_size=buffer_size)
        seen = []
        async for event in stream:
            seen.append(event)
            await anyio.lowlevel.checkpoint()
        assert seen == list(range(sum(batches)))
        assert peak <= buffer_size
        assert await stream.result() == "batched"


async def test_push_many_after_the_end_is_an_error() -> None:
    # Checked in the consumer: a pytest.raises inside the producer would fail
    # after the outcome is fixed, where nobody sees it.
    raised: list[BaseException] = []
    queued: list[int] = []

    async def produce(out: Stream) -> None:
        out.end("done")
        try:
            await out.push_many([1, 2])
        except StreamClosedError as exc:
            raised.append(exc)
        queued.append(out.statistics().buffered)

    with anyio.fail_after(2):
        assert await EventStream(produce).result() == "done"
    assert [type(e) for e in raised] == [StreamClosedError]
    assert queued == [0]  # nothing was queued after the end


async def test_a_cancelled_consumer_moves_at_most_64_ready_events() -> None:
    # The fast path checks for cancellation every 64th step, so a consumer that
    # never waits (the buffer always has events) still stops promptly.
    with anyio.fail_after(5):
        stream = EventStream(counting(5000), buffer_size=1000)
        after = 0
        async with stream:
            with anyio.CancelScope() as scope:
                async for _ in stream:
                    if scope.cancel_called:
                        after += 1
                    elif stream.statistics().buffered >= 500:
                        scope.cancel()
        assert scope.cancelled_caught
        assert after <= 64

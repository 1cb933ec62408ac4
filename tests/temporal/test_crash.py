"""Workers killed with SIGKILL mid-tool and mid-model-call are replaced; each call answered once."""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import anyio
import pytest
from anyio.abc import Process
from anyio.streams.text import TextReceiveStream
from temporalio.client import Client

from agentkit import StopReason, ToolResultMessage
from agentkit.temporal import start_run
from tests.temporal.test_durable import replay
from tests.temporal.worker_process import SPEC

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent.parent


async def start_worker(address: str, task_queue: str, records: Path) -> Process:
    return await anyio.open_process(
        [sys.executable, "-m", "tests.temporal.worker_process", address, task_queue, str(records)],
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
    )


async def read_until(process: Process, *wanted: str) -> None:
    assert process.stdout is not None
    seen: set[str] = set()
    buffer = ""
    async for chunk in TextReceiveStream(process.stdout):
        buffer += chunk
        *lines, buffer = buffer.split("\n")
        seen.update(lines)
        if set(wanted) <= seen:
            return
    raise AssertionError(f"the worker exited before printing {wanted}")


async def test_killed_workers_are_replaced_and_every_call_is_answered_once(
    temporal_address: str, tmp_path: Path
) -> None:
    task_queue = f"crash-{uuid.uuid4().hex[:12]}"
    client = await Client.connect(temporal_address)
    with anyio.fail_after(80):
        first = await start_worker(temporal_address, task_queue, tmp_path)
        try:
            await read_until(first, "ready")
            run = await start_run(
                client,
                SPEC,
                "Do it all.",
                id=f"crash-{uuid.uuid4().hex}",
                task_queue=task_queue,
                execution_timeout=timedelta(seconds=70),
            )
            await read_until(first, "started fetch", "started charge")
        finally:
            first.send_signal(signal.SIGKILL)
            await first.wait()
        # The next worker finishes the tools, then dies during the last model call.
        second = await start_worker(temporal_address, task_queue, tmp_path)
        try:
            await read_until(second, "started model")
        finally:
            second.send_signal(signal.SIGKILL)
            await second.wait()
        third = await start_worker(temporal_address, task_queue, tmp_path)
        try:
            result = await run.result()
        finally:
            third.terminate()
            await third.wait()
    assert result.stop_reason is StopReason.STOP
    results = [m for m in result.messages if isinstance(m, ToolResultMessage)]
    assert [(r.tool_name, r.is_error) for r in results] == [
        ("note", False),
        ("fetch", False),
        ("charge", True),
    ]
    assert len({r.tool_call_id for r in results}) == 3, "every call answered exactly once"
    assert results[1].text == "value of k"
    assert results[2].text.startswith("Interrupted: the worker running tool 'charge' was lost")

    def attempts(name: str) -> list[str]:
        return (tmp_path / f"attempts-{name}").read_text().splitlines()

    assert attempts("note") == [results[0].tool_call_id], "a completed tool never runs again"
    assert attempts("fetch") == [results[1].tool_call_id] * 2, "the idempotent tool was retried"
    assert attempts("charge") == [results[2].tool_call_id], "the other one was not"
    assert attempts("model") == ["final", "final"], "the lost model call was made again"
    assert result.text == "Finished: noted begin | value of k | " + results[2].text
    await replay(run.handle, task_queue, [SPEC])

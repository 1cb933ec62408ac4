"""A run paused for approval, saved to a file, resumed by a second Python process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from agentkit import Approval, Paused, StopReason, ToolResultMessage, message_from_dict
from tests.pause_worker import Keeper
from tests.test_pause import answered_once

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent


def second_process(state: Path, decisions: dict[str, list[object]], log: Path) -> dict[str, object]:
    chosen = state.with_suffix(".decisions.json")
    chosen.write_text(json.dumps(decisions), encoding="utf-8")
    out = state.with_suffix(".out.json")
    done = subprocess.run(
        [sys.executable, "-m", "tests.pause_worker", str(state), str(chosen), str(log), str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, object] = json.loads(out.read_text(encoding="utf-8"))
    return report


async def test_a_second_process_resumes_approving_some_calls(
    anyio_backend: str, tmp_path: Path
) -> None:
    log = tmp_path / "tools.log"
    state = tmp_path / "state.json"
    with anyio.fail_after(20):
        first = await Keeper(log).run("tidy up")
    assert first.stop_reason is StopReason.PAUSED and first.paused is not None
    assert [c.id for c in first.paused.pending] == ["a-x", "a-y", "a-z"]
    state.write_text(first.paused.to_json(), encoding="utf-8")

    # Process two: approve x, deny y, approve z with other arguments; the next turn pauses again.
    report = second_process(
        state,
        {"a-x": ["approve"], "a-y": ["deny", "keep y"], "a-z": ["replace", {"path": "z.bak"}]},
        log,
    )
    assert report["stop_reason"] == "paused"
    again = Paused.from_json(str(report["paused"]))
    assert [c.id for c in again.pending] == ["b-w"] and again.finished == {"b-look"}
    assert again.requests == 2 and again.turn == 2 and again.tool_calls == 6

    # Back here, a third agent (this process) settles the last call.
    with anyio.fail_after(20):
        agent = Keeper(log)
        last = await agent.resume(again, {"b-w": Approval.deny("not now")})
    assert last.stop_reason is StopReason.STOP and last.text == "done"

    # Each call ran at most once, in whichever process decided it; the denied never ran.
    ran = log.read_text(encoding="utf-8").splitlines()
    # Batches in order; calls of one batch run concurrently, in no fixed order.
    assert ran[0] == "look disk" and ran[-1] == "look trash"
    assert sorted(ran[1:-1]) == ["delete x", "delete z.bak"]
    # The second process's conversation is the start of the final one.
    theirs = tuple(message_from_dict(m) for m in report["messages"])  # type: ignore[attr-defined]
    assert agent.messages[: len(theirs)] == theirs == again.messages
    answered_once(agent.messages)
    results = {m.tool_call_id: m for m in agent.messages if isinstance(m, ToolResultMessage)}
    assert sorted(results) == ["a-look", "a-x", "a-y", "a-z", "b-look", "b-w"]
    assert results["a-y"].text == "Tool call 'delete' was denied: keep y"
    assert results["b-w"].text == "Tool call 'delete' was denied: not now"
    assert results["a-z"].text == "delete z.bak"

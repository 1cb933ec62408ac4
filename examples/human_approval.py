"""Human approval: ask a person before the agent runs a destructive tool.

Two forms. In-process, a hook asks while the run waits::

    python examples/human_approval.py            # asks on the terminal
    python examples/human_approval.py --approve  # approves without asking
    python examples/human_approval.py --deny     # denies without asking
    APPROVE_TOOL_CALLS=yes python examples/human_approval.py

Pause and resume, across two processes (the human may answer days later)::

    python examples/human_approval.py pause state.json
    python examples/human_approval.py resume state.json approve CALL_ID
    python examples/human_approval.py resume state.json deny CALL_ID

In-process, the agent overrides ``before_tool_call``: calls to ``delete_file``
wait for an answer, other tools run freely. A denied call is not run; the model gets an
error result saying why and answers accordingly. The answer comes from, in
order: the ``--approve``/``--deny`` flag, the ``APPROVE_TOOL_CALLS``
environment variable (``yes`` or ``no``), a question on stdin when stdin is a
terminal; with none of these (a script, a test, CI) the call is denied, the
safe default.

With ``pause``, ``delete_file`` is a ``@tool(requires_approval=True)``: the run
ends with ``StopReason.PAUSED`` once ``list_files`` has run, and its
:class:`~agentkit.Paused` state is saved as JSON. ``resume`` reads it in a new
process, into a new agent, and continues with one decision per pending call
id; a missing or unknown id is refused before anything runs. No API key or
network is needed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from agentkit import (
    Agent,
    Approval,
    Context,
    ModelOptions,
    Paused,
    ResumeError,
    StopReason,
    ToolCall,
    ToolCallDecision,
    ToolResultMessage,
    tool,
)
from agentkit.testing import Reply, ScriptedProvider, call


async def ask_human(question: str, preset: bool | None) -> bool:
    if preset is not None:
        return preset
    setting = os.environ.get("APPROVE_TOOL_CALLS", "").lower()
    if setting in ("yes", "no"):
        return setting == "yes"
    if sys.stdin.isatty():
        # input() blocks: run it in a worker thread so other tasks keep going.
        answer = await anyio.to_thread.run_sync(input, f"{question} [y/N] ")
        return answer.strip().lower() in ("y", "yes")
    print(f"{question} -> no answer available, denied")
    return False


class Janitor(Agent):
    model = "scripted-demo"
    needs_approval = frozenset({"delete_file"})

    def __init__(self, *args: Any, approve: bool | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.approve = approve
        self.files = {"report.pdf": 120_000, "old.log": 5_000_000}

    @tool
    def list_files(self) -> dict[str, int]:
        """List the files and their sizes in bytes."""
        return self.files

    @tool
    def delete_file(self, path: str) -> str:
        """Delete a file."""
        del self.files[path]
        return f"deleted {path}"

    async def before_tool_call(self, call: ToolCall) -> ToolCallDecision | None:
        if call.name not in self.needs_approval:
            return None
        if await ask_human(f"Allow {call.name}({call.arguments})?", self.approve):
            return None
        return ToolCallDecision.deny("the user declined")


class DurableJanitor(Agent):
    """The same tools, but ``delete_file`` pauses the run instead of asking in-process."""

    model = "scripted-demo"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.files = {"report.pdf": 120_000, "old.log": 5_000_000}

    @tool
    def list_files(self) -> dict[str, int]:
        """List the files and their sizes in bytes."""
        return self.files

    @tool(requires_approval=True)
    def delete_file(self, path: str) -> str:
        """Delete a file."""
        del self.files[path]
        return f"deleted {path}"


def model(context: Context, options: ModelOptions) -> Reply:
    results = {m.tool_name: m for m in context.messages if isinstance(m, ToolResultMessage)}
    if not results:
        return Reply(tool_calls=[call("list_files"), call("delete_file", path="old.log")])
    deleted = results["delete_file"]
    if deleted.is_error:
        return Reply(f"I left old.log in place ({deleted.text}).")
    return Reply("I deleted old.log, which took 5 MB.")


async def main(approve: bool | None) -> None:
    agent = Janitor(provider=ScriptedProvider(model), approve=approve)
    result = await agent.run("Free up some disk space.")
    print(result.text)
    print(f"files left: {sorted(agent.files)}")


async def pause() -> Paused:
    agent = DurableJanitor(provider=ScriptedProvider(model))
    result = await agent.run("Free up some disk space.")
    assert result.stop_reason is StopReason.PAUSED
    assert result.paused is not None
    return result.paused


def save(paused: Paused, state: Path) -> None:
    state.write_text(paused.to_json(), encoding="utf-8")
    print(f"paused; the state is in {state}; waiting for a decision on:")
    for pending in paused.pending:
        print(f"  {pending.id}: {pending.name}({pending.arguments})")


async def resume(paused: Paused, decisions: dict[str, Approval]) -> None:
    # A new process, a new agent: it takes the paused conversation.
    agent = DurableJanitor(provider=ScriptedProvider(model))
    result = await agent.resume(paused, decisions)
    print(result.text)
    print(f"files left: {sorted(agent.files)}")


def parse_decisions(words: list[str]) -> dict[str, Approval]:
    """``approve ID`` and ``deny ID`` pairs."""
    if len(words) % 2:
        raise SystemExit("decisions come in pairs: approve ID, deny ID")
    decisions: dict[str, Approval] = {}
    for verb, call_id in zip(words[::2], words[1::2], strict=True):
        if verb == "approve":
            decisions[call_id] = Approval.approve()
        elif verb == "deny":
            decisions[call_id] = Approval.deny("the user declined")
        else:
            raise SystemExit(f"unknown decision {verb!r}: use approve or deny")
    return decisions


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--approve", action="store_true", help="approve every call")
    choice.add_argument("--deny", action="store_true", help="deny every call")
    parser.add_argument("command", nargs="?", choices=["pause", "resume"])
    parser.add_argument("state", nargs="?", type=Path, help="the JSON file of the paused run")
    parser.add_argument("decisions", nargs="*", help="approve ID or deny ID, for each call")
    args = parser.parse_args()
    if args.command is None:
        preset = True if args.approve else False if args.deny else None
        anyio.run(main, preset)
    elif args.state is None:
        parser.error(f"{args.command} needs the state file")
    elif args.command == "pause":
        save(anyio.run(pause), args.state)
    else:
        paused = Paused.from_json(args.state.read_text(encoding="utf-8"))
        try:
            anyio.run(resume, paused, parse_decisions(args.decisions))
        except ResumeError as exc:  # fail closed: nothing ran
            raise SystemExit(f"not resumed: {exc}") from None

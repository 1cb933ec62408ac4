"""Human approval: ask a person before the agent runs a destructive tool.

    python examples/human_approval.py            # asks on the terminal
    python examples/human_approval.py --approve  # approves without asking
    python examples/human_approval.py --deny     # denies without asking
    APPROVE_TOOL_CALLS=yes python examples/human_approval.py

The agent overrides ``before_tool_call``: calls to ``delete_file`` wait for an
answer, other tools run freely. A denied call is not run; the model gets an
error result saying why and answers accordingly. The answer comes from, in
order: the ``--approve``/``--deny`` flag, the ``APPROVE_TOOL_CALLS``
environment variable (``yes`` or ``no``), a question on stdin when stdin is a
terminal; with none of these (a script, a test, CI) the call is denied, the
safe default. No API key or network is needed.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import anyio
import anyio.to_thread

from agentkit import (
    Agent,
    Context,
    ModelOptions,
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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--approve", action="store_true", help="approve every call")
    choice.add_argument("--deny", action="store_true", help="deny every call")
    args = parser.parse_args()
    preset = True if args.approve else False if args.deny else None
    anyio.run(main, preset)

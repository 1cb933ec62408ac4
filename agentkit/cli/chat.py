"""``agentkit chat``: an interactive session with a model.

Each line you type is a prompt; the answer streams as it arrives, followed by
what the request cost. Ctrl-C aborts the answer in progress (the session
goes on); Ctrl-C at the prompt, Ctrl-D or ``/exit`` ends the session, which
then prints every request and what caching saved.

A line that starts with ``/`` is a command of the chat, never sent to the
model (``/help`` lists them); start a line with ``//`` to send it with one
``/``.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Sequence

import anyio
from rich.console import Console

from agentkit import find_model
from agentkit._agent import Agent
from agentkit._errors import AgentkitError
from agentkit._messages import StopReason
from agentkit.cli._prompt import DEFAULT_SYSTEM_PROMPT
from agentkit.cli.display import RequestCost, RunDisplay
from agentkit.cli.providers import open_session

__all__ = ["run_chat"]

EXIT_WORDS = frozenset({"/exit", "/quit"})
COMMANDS = {
    "/help": "list these commands",
    "/usage": "the requests so far: tokens, cache reads and writes, cost",
    "/reset": "forget the conversation (start again)",
    "/exit": "end the session (also /quit, Ctrl-D, Ctrl-C at the prompt)",
}


class ChatAgent(Agent):
    """The agent behind ``agentkit chat``: a plain conversation, no tools."""

    max_turns = 20


def _help_text() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = [f"  {name.ljust(width)}  {what}" for name, what in COMMANDS.items()]
    lines.append(f"  {'//text'.ljust(width)}  send /text to the model")
    return "\n".join(lines)


def _run_command(command: str, agent: Agent, display: RunDisplay, console: Console) -> None:
    """Carry out a ``/`` command other than the exit words, locally."""
    name = command.split(maxsplit=1)[0]
    if name == "/help":
        console.print(_help_text(), markup=False)
    elif name == "/usage":
        if display.requests:
            display.print_summary()
        else:
            console.print("No requests yet.")
    elif name == "/reset":
        agent.reset()
        console.print("The conversation is forgotten; the request table is kept.")
    else:
        console.print(f"Unknown command {name}; /help lists the commands.", markup=False)


def cache_note(requests: Sequence[RequestCost], model: str) -> str | None:
    """Why nothing was cached, once the first request shows it; None when caching worked."""
    if not requests or any(r.usage.cache_read or r.usage.cache_write for r in requests):
        return None
    prompt = requests[0].usage.prompt
    info = find_model(model)
    if info is None or not info.explicit_cache_breakpoints:
        return (
            f"Nothing was cached: agentkit places cache markers only for Claude models, and "
            f"{model} is not one (its service may cache long prompts by itself)."
        )
    if prompt < info.min_cacheable_tokens:
        return (
            f"Nothing was cached: the prompt is {prompt:,} tokens, below {model}'s minimum "
            f"cacheable prefix of {info.min_cacheable_tokens:,}. The default system prompt "
            "is long enough; a conversation that grows past the minimum is cached from then on."
        )
    return "Nothing was cached: the service reported no cache reads or writes."


def _read_line(prompt: str, reader: Callable[[str], str]) -> str | None:
    try:
        return reader(prompt)
    except EOFError:
        return None


async def run_chat(
    *,
    provider: str,
    model: str | None,
    base_url: str | None,
    system: str = DEFAULT_SYSTEM_PROMPT,
    console: Console | None = None,
    reader: Callable[[str], str] = input,
) -> int:
    """Run a chat session until the user leaves; returns the exit status."""
    console = console or Console(highlight=False)
    async with open_session(provider, model=model, base_url=base_url) as session:
        agent = ChatAgent(provider=session.provider, model=session.model, system_prompt=system)
        display = RunDisplay(console)
        mode = "[bold red]LIVE[/]" if session.live else "[bold green]offline[/]"
        console.print(
            f"[bold]agentkit chat[/] · {mode} · {session.model} via {session.where}\n"
            "[dim]/help lists the commands; Ctrl-C aborts an answer; "
            "Ctrl-C at the prompt, Ctrl-D or /exit quits.\n"
            "After each answer, one line per request: `input` is the input NOT from the "
            "prompt cache, `cache read` came from it, `cache write` went into it. The system "
            "prompt and the conversation so far are cached.[/]"
        )
        noted = False
        async with anyio.create_task_group() as tasks:
            leave = tasks.cancel_scope

            async def on_interrupt() -> None:
                with anyio.open_signal_receiver(signal.SIGINT) as signals:
                    async for _ in signals:
                        if agent.state.is_running:
                            agent.abort()
                        else:
                            leave.cancel()

            if sys.platform != "win32":
                tasks.start_soon(on_interrupt)
            while True:
                line = await anyio.to_thread.run_sync(
                    _read_line, "\n> ", reader, abandon_on_cancel=True
                )
                if line is None or line.strip() in EXIT_WORDS:
                    break
                if not line.strip():
                    continue
                if line.lstrip().startswith("//"):
                    line = line.lstrip()[1:]
                elif line.lstrip().startswith("/"):
                    _run_command(line.strip(), agent, display, console)
                    continue
                try:
                    result = await display.show(agent.prompt(line))
                except AgentkitError as exc:
                    console.print(f"[red]{type(exc).__name__}: {exc}[/]")
                    continue
                if result.stop_reason is StopReason.ABORTED:
                    console.print("[yellow](aborted)[/]")
                note = None if noted else cache_note(display.requests, session.model)
                if note is not None:
                    console.print(f"[yellow]{note}[/]")
                    noted = True
            leave.cancel()
        console.print()
        if display.requests:
            display.print_summary()
    return 0

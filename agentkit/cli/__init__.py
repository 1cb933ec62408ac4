"""The ``agentkit`` command line: ``agentkit chat`` and ``agentkit emulator``.

``agentkit --help`` needs nothing but the runtime dependencies; the commands
need the ``cli`` extra (rich, and uvicorn for the emulator):
``pip install 'agentkit-loop[cli]'``. Without it they say so in one line and
exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence

from agentkit._logging import configure_program_logging

__all__ = ["main"]

DISTRIBUTION = "agentkit-loop"
EXTRA = "cli"
INSTALL_HINT = f"pip install '{DISTRIBUTION}[{EXTRA}]'"


def _parser() -> argparse.ArgumentParser:
    from agentkit.cli.providers import CHOICES, LIVE_VARIABLE  # noqa: PLC0415 - keeps --help fast

    parser = argparse.ArgumentParser(
        prog="agentkit",
        description="The agentkit command line: chat with a model, or serve the local "
        "API emulator.",
        epilog=f"The commands need the {EXTRA!r} extra: {INSTALL_HINT}",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    chat = commands.add_parser(
        "chat",
        help="talk to a model, streaming (the local emulator unless --live)",
        description="Talk to a model, streaming. Offline on the local emulator unless "
        f"--live or {LIVE_VARIABLE}=1 asks for a real service: an exported API key alone "
        "never does. /help in the chat lists its commands.",
    )
    chat.add_argument(
        "--provider",
        choices=CHOICES,
        default="auto",
        help="auto (default): the local emulator; with --live, OpenRouter with "
        "OPENROUTER_API_KEY, else Anthropic with ANTHROPIC_API_KEY. Naming a service "
        "asks for that service",
    )
    chat.add_argument(
        "--live",
        action="store_true",
        default=None,
        help=f"talk to a real, paid service (also {LIVE_VARIABLE}=1); the header says which",
    )
    chat.add_argument("--model", help="the model to ask (default depends on the provider)")
    chat.add_argument("--base-url", help="the service's URL (required for openai-compatible)")
    chat.add_argument(
        "--system",
        help="the system prompt (default: one of about 1,350 tokens, long enough for "
        "Claude Sonnet to cache it; a shorter one is not cached, and the chat says why)",
    )
    chat.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="error",
        help="agentkit's structured logs on stderr (default: errors only)",
    )
    commands.add_parser(
        "emulator",
        help="serve the local API emulator (agentkit emulator --help for its options)",
        add_help=False,
    )
    return parser


def _missing(modules: Sequence[str]) -> list[str]:
    return [name for name in modules if importlib.util.find_spec(name) is None]


def _needs_extra(command: str, missing: Sequence[str]) -> int:
    print(
        f"agentkit {command} needs {', '.join(missing)} (the {EXTRA!r} extra): {INSTALL_HINT}",
        file=sys.stderr,
    )
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``agentkit`` console script."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["emulator"]:
        # The emulator parses its own options; test support is imported only here.
        from agentkit.testing.emulator.__main__ import main as serve  # noqa: PLC0415

        return serve(arguments[1:], prog="agentkit emulator", extra=EXTRA)
    args = _parser().parse_args(arguments)
    from agentkit.cli.providers import resolve  # noqa: PLC0415

    try:
        kind = resolve(args.provider, live=args.live)
    except ValueError as exc:
        print(f"agentkit chat: {exc}", file=sys.stderr)
        return 2
    missing = _missing(("rich", "uvicorn") if kind == "emulator" else ("rich",))
    if missing:
        return _needs_extra("chat", missing)
    import anyio  # noqa: PLC0415

    from agentkit.cli._prompt import DEFAULT_SYSTEM_PROMPT  # noqa: PLC0415
    from agentkit.cli.chat import run_chat  # noqa: PLC0415

    configure_program_logging(args.log_level)
    try:
        return anyio.run(
            lambda: run_chat(
                provider=kind,
                model=args.model,
                base_url=args.base_url,
                system=DEFAULT_SYSTEM_PROMPT if args.system is None else args.system,
            )
        )
    except ValueError as exc:
        print(f"agentkit chat: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

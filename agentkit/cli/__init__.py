"""The ``agentkit`` command line: ``agentkit chat`` and ``agentkit emulator``.

Needs the ``cli`` extra (rich): ``pip install 'agentkit[cli]'``; the
emulator command also needs the ``emulator`` extra.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from agentkit._logging import configure_program_logging

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    from agentkit.cli.providers import CHOICES  # noqa: PLC0415 - keeps --help fast

    parser = argparse.ArgumentParser(prog="agentkit", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    chat = commands.add_parser("chat", help="talk to a model, streaming")
    chat.add_argument(
        "--provider",
        choices=CHOICES,
        default="auto",
        help="auto: OpenRouter with OPENROUTER_API_KEY, else Anthropic with "
        "ANTHROPIC_API_KEY, else the local emulator",
    )
    chat.add_argument("--model", help="the model to ask (default depends on the provider)")
    chat.add_argument("--base-url", help="the service's URL (required for openai-compatible)")
    chat.add_argument("--system", default="You are a helpful assistant.", help="system prompt")
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``agentkit`` console script."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["emulator"]:
        # The emulator parses its own options.
        from agentkit.testing.emulator.__main__ import main as serve  # noqa: PLC0415

        return serve(arguments[1:])
    args = _parser().parse_args(arguments)
    import anyio  # noqa: PLC0415

    from agentkit.cli.chat import run_chat  # noqa: PLC0415

    configure_program_logging(args.log_level)
    try:
        return anyio.run(
            lambda: run_chat(
                provider=args.provider,
                model=args.model,
                base_url=args.base_url,
                system=args.system,
            )
        )
    except ValueError as exc:
        print(f"agentkit chat: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""Command line: ``python -m agentkit.testing.emulator --port 8765`` (Ctrl-C stops it).

``agentkit emulator`` runs the same program under its own name.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import threading
from collections.abc import Sequence

from agentkit._logging import configure_program_logging
from agentkit.testing.emulator._server import Emulator
from agentkit.testing.emulator._state import SystemClock

__all__ = ["main"]

PROG = "python -m agentkit.testing.emulator"
DISTRIBUTION = "agentkit-loop"


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="A local Anthropic + OpenRouter API with faithful prompt caching.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--port", type=int, default=8765, help="port (0 picks a free one)")
    parser.add_argument(
        "--providers",
        type=int,
        default=2,
        help="OpenRouter upstreams for Claude models, each with its own cache (default 2)",
    )
    parser.add_argument(
        "--no-cache-writes",
        action="store_true",
        help="OpenRouter omits cache_write_tokens, as it did before 2026",
    )
    parser.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="warning",
        help="structured logs on stderr (default: warnings and errors)",
    )
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    prog: str = PROG,
    extra: str = "emulator",
    stop: threading.Event | None = None,
) -> int:
    """Serve until Ctrl-C (or until ``stop`` is set, for tests).

    ``prog`` names the program in its messages; ``extra`` is the extra it
    tells to install when uvicorn is missing (then it exits with status 2).
    """
    args = _parser(prog).parse_args(argv)
    configure_program_logging(args.log_level)
    if args.providers < 1:
        print(f"{prog}: --providers must be at least 1", file=sys.stderr)
        return 2
    if importlib.util.find_spec("uvicorn") is None:
        hint = f"pip install '{DISTRIBUTION}[{extra}]'"
        print(f"{prog} needs uvicorn (the {extra!r} extra): {hint}", file=sys.stderr)
        return 2
    names = ("Anthropic", "Amazon Bedrock", "Google", "Azure")
    upstreams = tuple(
        names[i] if i < len(names) else f"Upstream {i}" for i in range(args.providers)
    )
    emulator = Emulator(
        clock=SystemClock(),
        host=args.host,
        port=args.port,
        openrouter_providers=upstreams,
        report_cache_writes=not args.no_cache_writes,
    )
    waiter = stop if stop is not None else threading.Event()
    try:
        with emulator:
            print(f"Anthropic API:  {emulator.anthropic_base_url}  (POST /v1/messages)", flush=True)
            print(
                f"OpenRouter API: {emulator.openrouter_base_url}  (POST /chat/completions)",
                flush=True,
            )
            while not waiter.wait(0.2):
                pass
    except KeyboardInterrupt:  # Ctrl-C is how the command is meant to end
        print("stopping", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Logging set-up for agentkit's own command-line programs.

The library never configures logging; its programs (``agentkit chat``, the
emulator's command line) are applications and do, through this.
"""

from __future__ import annotations

import logging
import sys

import structlog

__all__ = ["configure_program_logging"]


def configure_program_logging(level: str) -> None:
    """Show structured logs at ``level`` and above on stderr, keeping stdout for output."""
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )

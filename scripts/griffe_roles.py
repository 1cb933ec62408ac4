"""A griffe extension for the docs build: Sphinx roles in docstrings become code spans.

agentkit's docstrings use reST roles (:class:`Context`); mkdocstrings renders
Markdown, where a role would show as literal text. Only the build uses this.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|func|meth|attr|data|exc|mod|obj):`~?([^`]+)`")


def _plain(match: re.Match[str]) -> str:
    target = match.group(1)
    # ``~a.b.C`` shows as ``C`` in Sphinx; keep that reading.
    shown = target.rsplit(".", 1)[-1] if match.group(0).count("~") else target
    return f"`{shown}`"


class SphinxRoles(griffe.Extension):
    """Rewrites :role:`target` to `target` in every docstring."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _ROLE.sub(_plain, obj.docstring.value)

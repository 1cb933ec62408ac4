"""A griffe extension for the docs build: reStructuredText in docstrings becomes Markdown.

agentkit's docstrings are reST: roles (:class:`Context`) and literal blocks
(a paragraph ending in ``::`` followed by an indented block). mkdocstrings
renders Markdown, where both would show as raw text. This extension rewrites
them when griffe loads each object, so the library's docstrings stay as they
are. Only the docs build uses it.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|func|meth|attr|data|exc|mod|obj):`~?([^`]+)`")
_DOUBLE_BACKTICKS = re.compile(r"``([^`]+)``")


def _plain(match: re.Match[str]) -> str:
    target = match.group(1)
    # ``~a.b.C`` shows as ``C`` in Sphinx; keep that reading.
    shown = target.rsplit(".", 1)[-1] if match.group(0).count("~") else target
    return f"`{shown}`"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def literal_blocks(text: str) -> str:
    """Turn each reST literal block into a fenced ``python`` code block.

    ``Example::`` ends its paragraph with ``Example:``; a ``::`` alone on its
    line disappears. The block is every following line indented deeper than
    the paragraph, blank lines included, up to the first line that is not.
    """
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.rstrip()
        if not stripped.endswith("::") or stripped.endswith(":::"):
            out.append(line)
            i += 1
            continue
        base = _indent(line)
        # The block starts after optional blank lines, indented deeper.
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        if j == len(lines) or _indent(lines[j]) <= base:
            out.append(line)  # "::" with no block after it: leave the text alone
            i += 1
            continue
        head = stripped[:-2].rstrip()
        if head.strip():
            out.append(head + ":" if not head.endswith(":") else head)
        out.append("")
        block: list[str] = []
        while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) > base):
            block.append(lines[j])
            j += 1
        while block and not block[-1].strip():
            block.pop()
        depth = min(_indent(b) for b in block if b.strip())
        pad = " " * base
        out.append(f"{pad}```python")
        out.extend(pad + b[depth:] if b.strip() else "" for b in block)
        out.append(f"{pad}```")
        if j < len(lines):
            out.append("")
        i = j
    return "\n".join(out)


def markdown(text: str) -> str:
    """The docstring ``text`` with its reST constructs as Markdown."""
    text = literal_blocks(text)
    # Outside code blocks: roles become code spans, ``literal`` becomes `literal`.
    parts = re.split(r"(?ms)(^[ ]*```python\n.*?^[ ]*```$)", text)
    for n in range(0, len(parts), 2):
        parts[n] = _DOUBLE_BACKTICKS.sub(r"`\1`", _ROLE.sub(_plain, parts[n]))
    return "".join(parts)


class SphinxRoles(griffe.Extension):
    """Rewrites reST roles and literal blocks to Markdown in every docstring.

    It also drops the value of instance attributes: what ``__init__`` assigns
    (``self.clock = clock if clock is not None else ManualClock()``) is code,
    not a default, and reads badly as one; class attributes keep theirs.
    """

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
        if isinstance(obj, griffe.Attribute) and "instance-attribute" in obj.labels:
            obj.value = None

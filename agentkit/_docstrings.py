"""Parameter descriptions from docstrings, in Google and Sphinx styles."""

from __future__ import annotations

import inspect
import re

__all__ = ["parse_docstring"]

_GOOGLE_HEADERS = frozenset({"args", "arguments", "parameters", "params"})
_SECTION = re.compile(r"([A-Za-z][A-Za-z ]*):")
_GOOGLE_ITEM = re.compile(r"\*{0,2}([A-Za-z_]\w*)\s*(?:\([^)]*\))?\s*:(?:\s+(.*))?")
_SPHINX_PARAM = re.compile(
    r":(?:param|parameter|arg|argument|key|keyword)\s+(?:[^:]*\s)?\*{0,2}([A-Za-z_]\w*)\s*:\s*(.*)"
)
_SPHINX_TYPE = re.compile(r":(?:type|rtype)\b[^:]*:.*")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _continued(lines: list[str], start: int, indent: int) -> tuple[list[str], int]:
    """The lines after ``start`` indented deeper than ``indent``, and the next index."""
    parts: list[str] = []
    i = start
    while i < len(lines) and lines[i].strip() and _indent(lines[i]) > indent:
        parts.append(lines[i].strip())
        i += 1
    return parts, i


def _google_section(lines: list[str], start: int, header: int, out: dict[str, str]) -> int:
    i, item_indent, current = start, -1, ""
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        indent = _indent(line)
        if indent <= header:
            break
        if item_indent < 0:
            item_indent = indent
        if indent <= item_indent:
            match = _GOOGLE_ITEM.fullmatch(line.strip())
            if match is None:
                raise ValueError(f"cannot read the Args line {line.strip()!r}")
            current = match.group(1)
            _add_param(out, current, match.group(2) or "")
        else:
            out[current] = f"{out[current]} {line.strip()}".strip()
        i += 1
    return i


def _add_param(out: dict[str, str], name: str, text: str) -> None:
    if name in out:
        raise ValueError(f"parameter {name!r} is documented twice")
    out[name] = text.strip()


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """The description (without parameter docs) and each parameter's text.

    Raises ValueError for an unreadable ``Args:`` entry or a duplicate.
    """
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    kept: list[str] = []
    params: dict[str, str] = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped, indent = line.strip(), _indent(line)
        section = _SECTION.fullmatch(stripped)
        if section and section.group(1).lower() in _GOOGLE_HEADERS:
            i = _google_section(lines, i + 1, indent, params)
            continue
        param = _SPHINX_PARAM.fullmatch(stripped)
        if param or _SPHINX_TYPE.fullmatch(stripped):
            more, i = _continued(lines, i + 1, indent)
            if param:
                _add_param(params, param.group(1), " ".join([param.group(2), *more]))
            continue
        kept.append(line.rstrip())
        i += 1
    description = re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()
    return description, params

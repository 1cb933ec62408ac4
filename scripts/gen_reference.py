"""Write docs/reference/: one page per public module, rendering its ``__all__``.

    python scripts/gen_reference.py           # rewrite the pages
    python scripts/gen_reference.py --check   # exit 1 if a page is out of date

The public modules are ``PUBLIC_MODULES``; each page renders the module's
docstring, then every name of its ``__all__`` with mkdocstrings, grouped as
the comments inside ``__all__`` group them. A name exported by several
modules (``agentkit.OpenRouterProvider`` is also ``agentkit.providers``') is
rendered once, on the first page listing it, and linked from the others.
The ``:::`` directives name the public path only (``agentkit.Agent``), never
the module that defines it, so moving a definition changes no page.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "reference"

# The public modules, in the order a name is looked for (first listing wins).
PUBLIC_MODULES = {
    "agentkit": "index.md",
    "agentkit.providers": "providers.md",
    "agentkit.transforms": "transforms.md",
    "agentkit.mcp": "mcp.md",
    "agentkit.otel": "otel.md",
    "agentkit.temporal": "temporal.md",
    "agentkit.testing": "testing.md",
    "agentkit.testing.strategies": "testing-strategies.md",
    "agentkit.testing.emulator": "testing-emulator.md",
}
HEADER = "<!-- Written by scripts/gen_reference.py from the modules' __all__; do not edit. -->"


def groups(module_name: str) -> list[tuple[str, list[str]]]:
    """The names of ``__all__`` in order, under the comments that group them."""
    module = importlib.import_module(module_name)
    source = inspect.getsource(module)
    tree = ast.parse(source)
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
            and node.end_lineno is not None
        ):
            lines = source.splitlines()[node.lineno - 1 : node.end_lineno]
            break
    else:
        raise SystemExit(f"{module_name} has no literal __all__")
    out: list[tuple[str, list[str]]] = []
    for raw in lines:
        line = raw.strip()
        if line.startswith("#"):
            out.append((line.lstrip("# ").strip(), []))
            continue
        for piece in line.replace("__all__ = [", "").split(","):
            name = piece.strip().strip("[]").strip().strip("\"'")
            if name and not name.startswith("__"):
                if not out:
                    out.append(("", []))
                out[-1][1].append(name)
    listed = [name for _, names in out for name in names]
    exported = [name for name in module.__all__ if not name.startswith("__")]
    if listed != exported:
        raise SystemExit(f"cannot read {module_name}.__all__ from its source")
    return [(title, names) for title, names in out if names]


def home(module_name: str, name: str) -> str:
    """The first public module exporting the same object under ``name``."""
    value = getattr(importlib.import_module(module_name), name)
    for candidate in PUBLIC_MODULES:
        module = importlib.import_module(candidate)
        if name in getattr(module, "__all__", ()) and getattr(module, name) is value:
            return candidate
    return module_name  # pragma: no cover - module_name itself lists it


def render(module_name: str) -> str:
    lines = [
        f"# `{module_name}`",
        "",
        HEADER,
        "",
        f"::: {module_name}",
        "    options:",
        "      members: false",
        "      show_root_heading: false",
        "",
    ]
    elsewhere: dict[str, list[str]] = {}
    for title, names in groups(module_name):
        mine = []
        for name in names:
            where = home(module_name, name)
            if where == module_name:
                mine.append(name)
            else:
                elsewhere.setdefault(where, []).append(name)
        if not mine:
            continue
        level = 3
        if title:
            lines += [f"## {title[0].upper()}{title[1:]}", ""]
        else:
            level = 2
        for name in mine:
            lines += [
                f"::: {module_name}.{name}",
                "    options:",
                "      show_root_heading: true",
                "      show_root_full_path: false",
                f"      heading_level: {level}",
                "",
            ]
    if elsewhere:
        lines += ["## Also exported here", ""]
        for where, names in elsewhere.items():
            page = PUBLIC_MODULES[where]
            links = ", ".join(f"[`{n}`]({page}#{where}.{n})" for n in names)
            lines += [f"Documented with [`{where}`]({page}): {links}.", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def main() -> int:
    check = "--check" in sys.argv[1:]
    stale = []
    wanted = {REFERENCE / page: render(module) for module, page in PUBLIC_MODULES.items()}
    extra = sorted(set(REFERENCE.glob("*.md")) - set(wanted))
    for path, text in wanted.items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(path)
            if not check:
                path.write_text(text, encoding="utf-8")
    if check and (stale or extra):
        for path in [*stale, *extra]:
            print(f"{path.relative_to(ROOT)} is out of date: run python scripts/gen_reference.py")
        return 1
    for path in extra:
        path.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())

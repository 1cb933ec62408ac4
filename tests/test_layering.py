"""The package's layering: no module reaches into another module's private names."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "agentkit"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _private_imports(path: Path, name: str) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if not node.module.startswith("agentkit"):
                continue
            for alias in node.names:
                if alias.name.startswith("_"):
                    found.append(f"{name}:{node.lineno} {node.module}.{alias.name}")
    return found


def test_no_module_imports_a_private_name_of_another() -> None:
    # Private *modules* (agentkit._log) are shared implementation; their public
    # names are meant for the package. A private *name* is one module's own.
    problems = [
        hit
        for path in sorted(PACKAGE.rglob("*.py"))
        for hit in _private_imports(path, _module_name(path))
    ]
    assert problems == []


def test_the_checker_finds_a_private_import(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "from agentkit._loop import _Run\nfrom agentkit._log import get_logger\nimport agentkit\n"
    )
    assert _private_imports(source, "m") == ["m:1 agentkit._loop._Run"]

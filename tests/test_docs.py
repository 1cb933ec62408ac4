"""Every Python block in docs/ runs, unless the line before it says why it cannot.

A block is skipped only when the line before its fence is an HTML comment
``<!-- not runnable: REASON -->`` (invisible in the rendered page). The
blocks of one page run in order in one namespace, so a page can build on its
earlier blocks. Blocks run with the network unreachable: they must use the
scripted provider or the local emulator.
"""

from __future__ import annotations

import re
import sys
import textwrap
import types
from pathlib import Path

import pytest

from agentkit import _models as models

DOCS = Path(__file__).resolve().parent.parent / "docs"
FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
SKIP = re.compile(r"<!-- not runnable: (.+?) -->\s*$")


def blocks(page: Path) -> tuple[list[str], list[str]]:
    text = page.read_text(encoding="utf-8")
    runnable, skipped = [], []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        reason = SKIP.search(before)
        (skipped if reason else runnable).append(textwrap.dedent(match.group(1)))
        if reason:
            assert len(reason.group(1).strip()) > 10, f"{page.name}: give a real reason"
    return runnable, skipped


PAGES = sorted(DOCS.rglob("*.md"))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_docs_code_blocks_run(page: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runnable, _ = blocks(page)
    for key in ("OPENROUTER_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    # Pages may register models; keep that from leaking into other tests.
    monkeypatch.setattr(models, "_REGISTERED", dict(models._REGISTERED))
    # A real module, so type hints in the blocks resolve like in a user's file.
    module = types.ModuleType(f"docs_{page.stem}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for number, code in enumerate(runnable, start=1):
        try:
            exec(compile(code, f"{page.name}[block {number}]", "exec"), module.__dict__)
        except Exception as exc:
            where = f"{page.relative_to(DOCS)} block {number}"
            raise AssertionError(f"{where} failed: {exc!r}") from exc

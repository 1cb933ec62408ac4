"""Every Python block in docs/ runs, unless the line before it says why it cannot.

A block is skipped only when the line before its fence is an HTML comment
``<!-- not runnable: REASON -->`` (invisible in the rendered page). The
blocks of one page run in order in one namespace, so a page can build on its
earlier blocks. Blocks run with the network unreachable: they must use the
scripted provider or the local emulator.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
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


README = DOCS.parent / "README.md"


def test_the_readme_first_example_runs_as_written(tmp_path: Path) -> None:
    # Pasted into a file and run with no key and no network, it calls its tool.
    runnable, skipped = blocks(README)
    assert len(runnable) == 1 and len(skipped) == 1, "one offline example, one live one"
    script = tmp_path / "first.py"
    script.write_text(runnable[0], encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Here is what the tools returned. add: 5.\n"
    # The live example is the same agent: only the provider differs.
    assert "Helper(provider=provider).run(" in skipped[0]
    assert "OpenRouterProvider()" in skipped[0]


# --- The site: one navigation, a reference page per public module, nothing stale.

ROOT = DOCS.parent
MKDOCS = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
DIRECTIVE = re.compile(r"^::: (\S+)$", re.MULTILINE)


def nav_pages() -> list[str]:
    nav = MKDOCS[MKDOCS.index("\nnav:") :]
    return re.findall(r":\s+(\S+\.md)\s*$", nav, re.MULTILINE)


def test_the_navigation_lists_every_page_once() -> None:
    in_nav = nav_pages()
    assert sorted(in_nav) == sorted(str(p.relative_to(DOCS)) for p in PAGES)
    assert len(in_nav) == len(set(in_nav)), "a page is listed twice"
    sections = re.findall(r"^  - ([^:]+):", MKDOCS[MKDOCS.index("\nnav:") :], re.MULTILINE)
    assert sections == ["Home", "Tutorial", "How-to guides", "Concepts", "Reference"]


def reference_modules() -> dict[str, str]:
    """Module -> page, for each reference page's module directive (the first)."""
    found = {}
    for page in sorted((DOCS / "reference").glob("*.md")):
        directives = DIRECTIVE.findall(page.read_text(encoding="utf-8"))
        assert directives, f"{page.name} renders nothing"
        found[directives[0]] = page.name
    return found


def test_the_reference_has_one_page_per_public_module() -> None:
    from tests.test_public_api import PUBLIC_MODULES

    modules = reference_modules()
    assert sorted(modules) == sorted(PUBLIC_MODULES)
    reference = MKDOCS[MKDOCS.index("  - Reference:") :]
    in_nav = re.findall(r"^      - (\S+): reference/(\S+)$", reference, re.MULTILINE)
    assert sorted(in_nav) == sorted(modules.items())


def test_the_reference_renders_public_paths_only() -> None:
    # A directive names a public module or one of its exported names, never the
    # module defining it: the definitions may move without a page changing.
    for page in sorted((DOCS / "reference").glob("*.md")):
        for target in DIRECTIVE.findall(page.read_text(encoding="utf-8")):
            if target in reference_modules():
                continue
            module, name = target.rsplit(".", 1)
            assert name in importlib.import_module(module).__all__, f"{page.name}: {target}"
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        if page.parent.name != "reference":
            assert not DIRECTIVE.search(text), f"{page.name}: API pages live in reference/"


def test_every_exported_name_is_rendered_once() -> None:
    from tests.test_public_api import PUBLIC_MODULES

    rendered: dict[int, list[str]] = {}
    for page in sorted((DOCS / "reference").glob("*.md")):
        for target in DIRECTIVE.findall(page.read_text(encoding="utf-8")):
            if "." in target and target not in PUBLIC_MODULES:
                module, name = target.rsplit(".", 1)
                value = getattr(importlib.import_module(module), name)
                rendered.setdefault(id(value), []).append(target)
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            if name.startswith("__"):
                continue
            targets = rendered.get(id(getattr(module, name)), [])
            assert len(targets) == 1, f"{module_name}.{name} is rendered {targets or 'nowhere'}"


def test_the_reference_pages_are_up_to_date() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_reference.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_example_is_linked_from_the_docs() -> None:
    included = re.findall(r'--8<-- "examples/([\w.]+)"', (DOCS / "examples.md").read_text())
    examples = sorted(p.name for p in (ROOT / "examples").glob("*.py"))
    assert sorted(included) == examples
    assert len(included) == len(set(included))


# Speed figures have one home, the benchmarks page; elsewhere, a link to it.
DASH, TIMES = "\N{EN DASH}", "\N{MULTIPLICATION SIGN}"
SPEED_FIGURE = re.compile(
    rf"\d\s*(?:µs|ns)\b|\d(?:\.\d+)?\s*[{DASH}-]\s*\d+(?:\.\d+)?\s*{TIMES}|\d+ times faster"
)


@pytest.mark.parametrize("page", [*PAGES, README], ids=lambda p: p.name)
def test_speed_figures_live_on_the_benchmarks_page(page: Path) -> None:
    if page.name == "benchmarks.md":
        return
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    assert not SPEED_FIGURE.search(text), SPEED_FIGURE.findall(text)


def test_the_speed_check_sees_a_figure() -> None:
    figures = ["costs 6-9 µs of CPU", f"at 1.2{DASH}1.4{TIMES} the cost", f"4{DASH}36{TIMES}"]
    for figure in [*figures, "30 times faster"]:
        assert SPEED_FIGURE.search(figure), figure
    assert not SPEED_FIGURE.search(f"a 1-hour write costs 2{TIMES} input instead of 1.25{TIMES}")


@pytest.mark.parametrize("page", [*PAGES, README], ids=lambda p: p.name)
def test_no_page_cites_a_file_outside_the_repository(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert "shared/reference" not in text and "/work/" not in text
    base = page.parent
    for target in re.findall(r"\]\(([^)\s#]+)(?:#[^)\s]*)?\)", text):
        if "://" in target or target.startswith("mailto:"):
            continue
        resolved = (base / target).resolve()
        assert resolved.is_relative_to(ROOT), f"{page.name} links outside: {target}"
        assert resolved.exists(), f"{page.name} links to a missing file: {target}"


# --- Docstrings: the griffe extension turns reST into Markdown.

sys.path.insert(0, str(ROOT / "scripts"))
griffe_roles = importlib.import_module("griffe_roles")


def test_literal_blocks_become_fenced_code() -> None:
    text = "Start it::\n\n    async with Emulator() as emu:\n        emu.clock.advance(1)\n\nThen."
    assert griffe_roles.markdown(text) == (
        "Start it:\n\n```python\nasync with Emulator() as emu:\n    emu.clock.advance(1)\n```\n\n"
        "Then."
    )
    # A "::" alone on its line goes; an indented paragraph's block keeps its indent.
    assert griffe_roles.markdown("::\n\n    x = 1\n") == "\n```python\nx = 1\n```"
    nested = "    An example::\n\n        a = 1\n    the end"
    assert griffe_roles.markdown(nested) == (
        "    An example:\n\n    ```python\n    a = 1\n    ```\n\n    the end"
    )
    assert griffe_roles.markdown("No block:: here") == "No block:: here"


def test_roles_become_code_spans_outside_code_blocks_only() -> None:
    text = "See :class:`~agentkit.Context` and :func:`agent_loop`::\n\n    x = ':class:`Y`'\n"
    assert griffe_roles.markdown(text) == (
        "See `Context` and `agent_loop`:\n\n```python\nx = ':class:`Y`'\n```"
    )


def test_no_public_docstring_keeps_a_raw_literal_block() -> None:
    import griffe

    from tests.test_public_api import PUBLIC_MODULES

    loader = griffe.GriffeLoader(
        extensions=griffe.load_extensions(griffe_roles.SphinxRoles),
        search_paths=[str(ROOT)],
    )
    package = loader.load("agentkit")
    loader.resolve_aliases(implicit=False, external=False)
    left = []
    for module_name in PUBLIC_MODULES:
        module = package if module_name == "agentkit" else package[module_name[len("agentkit.") :]]
        exported = [module[name] for name in importlib.import_module(module_name).__all__]
        assert exported, module_name
        for obj in [module, *exported]:
            members = [m for m in obj.members.values() if not m.is_alias] if obj.is_class else []
            for target in [obj, *members]:
                doc = target.docstring.value if target.docstring else ""
                if re.search(r"::\s*$|:(class|func|meth|attr|exc|data):`", doc, re.MULTILINE):
                    left.append(target.path)
    assert left == []

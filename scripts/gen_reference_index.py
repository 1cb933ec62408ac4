"""Write docs/reference/index.md: every name of ``agentkit.__all__``, linked to its page.

    python scripts/gen_reference_index.py           # rewrite the page
    python scripts/gen_reference_index.py --check   # exit 1 if it is out of date

Names are grouped as the comments in ``agentkit/__init__.py`` group them. Each
links to the reference page of the public module defining it; a name defined
in a private module links to the package that re-exports it. The one-line
summaries come from the docstrings (type aliases have none: see ``ALIASES``).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "agentkit"
PAGE = ROOT / "docs" / "reference" / "index.md"

# Module -> its reference page (docs/reference/<page>.md).
PAGES = {
    "agentkit._agent": "agent",
    "agentkit._errors": "errors",
    "agentkit._events": "events",
    "agentkit._loop": "loop",
    "agentkit._messages": "messages",
    "agentkit._models": "models",
    "agentkit._stream": "stream",
    "agentkit._tools": "tools",
    "agentkit.transforms": "transforms",
    "agentkit.transforms._caching": "transforms-caching",
    "agentkit.transforms._pipeline": "transforms-pipeline",
    "agentkit.providers": "providers",
    "agentkit.providers._base": "providers-base",
    "agentkit.providers._anthropic": "providers-anthropic",
    "agentkit.providers._openrouter": "providers-openrouter",
    "agentkit.providers._openai_compat": "providers-openai_compat",
    "agentkit.providers._openai_format": "providers-openai_format",
    "agentkit.providers._errors": "providers-errors",
    "agentkit.providers._sse": "providers-sse",
    "agentkit.providers._usage": "providers-usage",
}

ALIASES = {
    "Message": "Any message: a `UserMessage`, an `AssistantMessage` or a `ToolResultMessage`.",
    "AgentEvent": "Any event of a run: the union of the agent events.",
    "AssistantDelta": "A delta carried by `MessageUpdate`: text, thinking, tool call, block end.",
    "AssistantEvent": "Any event of a provider stream: `StreamStart` or an `AssistantDelta`.",
    "AssistantStream": "`EventStream[AssistantEvent, AssistantMessage]`: one provider answer.",
    "RunStream": "`EventStream[AgentEvent, RunResult]`: the stream of one run.",
    "cache_breakpoints": "The default caching transform, `CacheBreakpoints()`: 5-minute markers.",
    "Transform": "`Callable[[Context, TransformInfo], Context]`: a pure rewrite of the context.",
}

_ROLE = re.compile(r":(?:class|func|meth|attr|data|exc|mod|obj):`~?([^`]+)`")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def definitions() -> dict[str, list[tuple[str, str]]]:
    """Name -> [(module, docstring summary)] for every top-level definition."""
    found: dict[str, list[tuple[str, str]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            names: list[str] = []
            summary = ""
            if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                names = [node.name]
                summary = (ast.get_docstring(node) or "").strip()
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names = [node.target.id]
            for name in names:
                found.setdefault(name, []).append((module_name(path), summary))
    return found


def summary_line(text: str) -> str:
    first = " ".join(text.split("\n\n", 1)[0].split())
    first = _ROLE.sub(lambda m: f"`{m.group(1).rsplit('.', 1)[-1]}`", first).replace("``", "`")
    sentence = re.match(r"(.+?\.)(\s|$)", first)
    return sentence.group(1) if sentence else first


def groups() -> list[tuple[str, list[str]]]:
    source = (PACKAGE / "__init__.py").read_text(encoding="utf-8")
    block = source[source.index("__all__ = [") :].split("]", 1)[0]
    out: list[tuple[str, list[str]]] = []
    for raw in block.splitlines()[1:]:
        line = raw.strip()
        if line.startswith("#"):
            out.append((line.lstrip("# "), []))
        elif line.startswith('"') and line != '"__version__",':
            if not out:
                out.append(("names", []))
            out[-1][1].append(line.strip('",'))
    return out


def render() -> str:
    found = definitions()
    lines = [
        "# agentkit",
        "",
        "<!-- Written by scripts/gen_reference_index.py from agentkit.__all__; do not edit. -->",
        "",
        "Everything a typical program needs is importable from the top-level package:",
        "",
        "```python",
        "from agentkit import Agent, AnthropicProvider, Context, Usage, agent_loop, tool",
        "```",
        "",
        "Each name links to the page of the module that defines it.",
        "`agentkit.__version__` is the installed version. Test support lives in",
        "[`agentkit.testing`](testing.md) and is not re-exported.",
        "",
    ]
    for title, names in groups():
        lines += [f"## {title[0].upper()}{title[1:]}", "", "| name | module | |", "|---|---|---|"]
        for name in names:
            public = [(m, s) for m, s in found.get(name, []) if m in PAGES]
            if not public:
                # Defined in a private module: document it where it is re-exported.
                public = [("agentkit.providers", s) for m, s in found.get(name, [])][:1]
            if not public:
                raise SystemExit(f"cannot find where agentkit.{name} is defined")
            if len({m for m, _ in public}) > 1:
                raise SystemExit(f"agentkit.{name} is defined in several modules: {public}")
            # Overloads come first and have no docstring; the implementation has it.
            module, doc = max(public, key=lambda entry: bool(entry[1]))
            text = ALIASES.get(name) or summary_line(doc)
            if not text:
                raise SystemExit(f"agentkit.{name} has no docstring: add it to ALIASES")
            link = f"{PAGES[module]}.md#{module}.{name}"
            lines.append(f"| [`{name}`]({link}) | `{module}` | {text} |")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    text = render()
    if "--check" in sys.argv[1:]:
        if PAGE.read_text(encoding="utf-8") != text:
            print(f"{PAGE} is out of date: run python scripts/gen_reference_index.py")
            return 1
        return 0
    PAGE.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

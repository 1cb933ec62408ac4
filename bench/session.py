"""A realistic coding-agent session, the same for every caching strategy.

A two-block system prompt of about 3,000 tokens, twelve tools, fifteen user
turns, 71 requests: parallel tool calls (up to twelve at once), a sequential
chain of 13 single tool calls, and a six-minute pause (on the emulator's clock)
before turn 9. The
model is the emulator's scripted policy: its reply depends only on where the
conversation is (user turn, step), so every strategy sees the same session.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from agentkit._tools import Tool
from agentkit.testing.emulator import ModelReply, ModelRequest, ToolUse

__all__ = ["PAUSE_BEFORE_TURN", "PLAN", "PROMPTS", "SYSTEM", "TOOLS", "policy", "request_count"]

Call = tuple[str, dict[str, Any]]
Step = tuple[Call, ...]


def _filler(seed: str, chars: int) -> str:
    """Deterministic, non-repeating prose of about ``chars`` characters."""
    words = [
        "module",
        "function",
        "test",
        "branch",
        "review",
        "commit",
        "config",
        "parser",
        "cache",
        "request",
        "token",
        "handler",
        "schema",
        "invariant",
        "refactor",
        "latency",
        "edge",
        "case",
        "retry",
        "boundary",
        "fixture",
        "coverage",
        "release",
        "build",
        "import",
        "typing",
        "docstring",
        "error",
        "message",
        "migration",
    ]
    out: list[str] = []
    size = 0
    counter = 0
    while size < chars:
        digest = hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        sentence = " ".join(words[b % len(words)] for b in digest[:12])
        line = f"{counter + 1}. Always check the {sentence}."
        out.append(line)
        size += len(line) + 1
        counter += 1
    return "\n".join(out)


#: Instructions (about 2,250 tokens) and an environment block (about 750 tokens).
SYSTEM: tuple[str, str] = (
    "You are a careful coding agent working in the user's repository.\n" + _filler("rules", 9_000),
    "Environment: linux, python 3.11, repository /repo on branch main.\n" + _filler("env", 3_000),
)


def _file(path: str, chars: int) -> str:
    return f"# {path}\n" + _filler(path, chars)


def read_file(path: str) -> str:
    """Read a file of the repository and return its text with line numbers.

    Use this before editing a file. Paths are relative to the repository root.
    Large files are returned whole; prefer grep to locate code first.
    """
    size = 1_500 + int(hashlib.sha256(path.encode()).hexdigest()[:4], 16) % 4_500
    return _file(path, size)


def write_file(path: str, content: str) -> str:
    """Create or overwrite a file with the given content.

    Only use this for new files; use edit_file to change an existing one.
    """
    return f"wrote {len(content)} characters to {path}"


def edit_file(path: str, old: str, new: str) -> str:
    """Replace one exact occurrence of old with new in a file.

    The old text must match exactly, whitespace included, and be unique in the file.
    """
    return f"edited {path}: replaced {len(old)} characters with {len(new)}"


def list_dir(path: str) -> str:
    """List the files and directories under a path, one per line, directories first."""
    return "\n".join(f"{path}/{name}" for name in ("src", "tests", "docs", "README.md", "setup.py"))


def grep(pattern: str, path: str = ".") -> str:
    """Search files for a regular expression; returns matching lines as path:line:text."""
    return "\n".join(f"src/mod{i}.py:{10 * i + 3}: {pattern} = compute({i})" for i in range(12))


def glob(pattern: str) -> str:
    """Find files whose path matches a glob pattern such as src/**/*.py."""
    return "\n".join(f"src/pkg/file{i}.py" for i in range(15))


def run_tests(target: str = "tests") -> str:
    """Run the test suite (or one target) with pytest and return its summary output."""
    return _file(f"pytest {target}", 1_800)


def run_command(command: str) -> str:
    """Run a shell command in the repository and return its output and exit status."""
    return f"$ {command}\n" + _filler(command, 900) + "\nexit status 0"


def git_diff() -> str:
    """Show the uncommitted changes as a unified diff."""
    return _file("diff", 2_400)


def git_status() -> str:
    """Show the working tree status: modified, added and untracked files."""
    return "M src/config.py\nM src/log.py\nA tests/test_config.py\n?? notes.txt"


def web_search(query: str) -> str:
    """Search the web and return the titles and snippets of the top results."""
    return _filler(query, 1_200)


def todo_write(items: list[str]) -> str:
    """Replace the task list with the given items, in order; shows the user your plan."""
    return f"{len(items)} tasks recorded"


TOOLS: tuple[Tool, ...] = tuple(
    Tool.from_function(fn)
    for fn in (
        read_file,
        write_file,
        edit_file,
        list_dir,
        grep,
        glob,
        run_tests,
        run_command,
        git_diff,
        git_status,
        web_search,
        todo_write,
    )
)


def _r(path: str) -> Call:
    return ("read_file", {"path": path})


def _e(path: str) -> Call:
    return ("edit_file", {"path": path, "old": "old_value = 1", "new": "new_value = 2"})


_T: Call = ("run_tests", {"target": "tests"})

PROMPTS: tuple[str, ...] = (
    "Have a look around this repository and tell me what it does.",
    "Where is the configuration parsed? I think durations are read wrong.",
    "Fix the bug in parse_duration: '1h30m' comes out as 30 minutes.",
    "Add regression tests for parse_duration, including the edge cases.",
    "Rename the logger helpers in every module to the new get_logger API, one file at a time.",
    "Run the whole test suite and fix whatever fails.",
    "Update the docs for the configuration format.",
    "What have we changed so far?",
    "Back. Now add a --verbose flag to the command line.",
    "Explain how the caching layer works.",
    "Add type hints to the utils module until mypy is happy.",
    "Search for TODO comments and make a task list of them.",
    "Fix the first TODO.",
    "Run the linter and fix what it reports.",
    "Summarise the work and add a changelog entry.",
)

#: Per user turn, the steps before the final answer; a step's calls run in parallel.
PLAN: tuple[tuple[Step, ...], ...] = (
    (
        (("list_dir", {"path": "."}),),
        (_r("README.md"), _r("setup.py"), ("glob", {"pattern": "tests/**/*.py"})),
        (_r("src/core.py"),),
    ),
    ((("grep", {"pattern": "parse_duration"}),), (_r("src/config.py"), _r("src/units.py"))),
    ((_r("src/units.py"),), (_e("src/units.py"),), (_T,)),
    (
        (_r("tests/test_units.py"),),
        (("write_file", {"path": "tests/test_duration.py", "content": "def test(): ..."}),),
        (_T,),
        (_e("tests/test_duration.py"),),
        (_T,),
    ),
    (
        (("grep", {"pattern": "make_logger"}),),
        (_r("src/mod1.py"),),
        (_e("src/mod1.py"),),
        (_r("src/mod2.py"),),
        (_e("src/mod2.py"),),
        (_r("src/mod3.py"),),
        (_e("src/mod3.py"),),
        (_r("src/mod4.py"),),
        (_e("src/mod4.py"),),
        (_r("src/mod5.py"),),
        (_e("src/mod5.py"),),
        (_T,),
        (("git_diff", {}),),
    ),
    ((_T,), (_r("src/cli.py"),), (_e("src/cli.py"),), (_T,)),
    (
        (("glob", {"pattern": "docs/*.md"}),),
        (_r("docs/config.md"), _r("docs/index.md")),
        (_e("docs/config.md"), _e("docs/index.md")),
    ),
    ((("git_status", {}), ("git_diff", {})),),
    (
        (("grep", {"pattern": "argparse"}),),
        (_r("src/cli.py"), _r("src/main.py")),
        (_e("src/cli.py"),),
        (_e("src/main.py"),),
        (_T,),
    ),
    (tuple(_r(f"src/cache/part{i}.py") for i in range(12)),),
    (
        (_r("src/utils.py"),),
        (_e("src/utils.py"),),
        (("run_command", {"command": "mypy src/utils.py"}),),
        (_e("src/utils.py"),),
        (("run_command", {"command": "mypy src/utils.py"}),),
    ),
    ((("grep", {"pattern": "TODO"}),), (("todo_write", {"items": ["a", "b", "c"]}),)),
    ((_r("src/store.py"),), (_e("src/store.py"),), (_T,)),
    (
        (("run_command", {"command": "ruff check ."}),),
        (_e("src/store.py"), _e("src/cli.py")),
        (("run_command", {"command": "ruff check ."}),),
    ),
    ((("git_diff", {}),), (_r("CHANGELOG.md"),), (_e("CHANGELOG.md"),)),
)

#: The user steps away for six minutes before this turn (1-based): every 5m entry expires.
PAUSE_BEFORE_TURN = 9


def request_count() -> int:
    return sum(len(steps) + 1 for steps in PLAN)


def _position(request: ModelRequest) -> tuple[int, int]:
    """(user turn from 0, step within it) of the request being answered."""
    turn, step = -1, 0
    for t in request.turns:
        if t.role == "user" and any(b.kind == "text" for b in t.blocks):
            turn, step = turn + 1, 0
        elif t.role == "assistant":
            step += 1
    return turn, step


def policy(request: ModelRequest) -> ModelReply:
    """The scripted model: the step's tool calls, or the turn's final answer."""
    turn, step = _position(request)
    if not 0 <= turn < len(PLAN):
        raise ValueError(f"the session has no user turn {turn}")
    steps = PLAN[turn]
    if step < len(steps):
        calls = tuple(
            ToolUse(name, _args(arguments), id=f"toolu_{turn:02d}_{step:02d}_{j}")
            for j, (name, arguments) in enumerate(steps[step])
        )
        return ModelReply(text=f"Step {step + 1}: checking.", tool_calls=calls)
    return ModelReply(text=_filler(f"answer{turn}", 1_600))


def _args(arguments: Mapping[str, Any]) -> dict[str, Any]:
    return dict(arguments)

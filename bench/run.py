"""The entry point: run every benchmark, write ``bench/results.json``, regenerate the docs page."""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench import (
    caching,
    concurrency,
    keep_warm,
    loop_overhead,
    scale,
    streaming,
    temporal_durable,
    transforms,
)
from bench.common import machine, versions
from bench.report import write_page

__all__ = ["BENCHMARKS", "main"]

ROOT = Path(__file__).resolve().parent.parent

BENCHMARKS: dict[str, Callable[[bool], dict[str, Any]]] = {
    "caching": caching.run,
    "streaming": streaming.run,
    "loop": loop_overhead.run,
    "transforms": transforms.run,
    "scale": scale.run,
    "concurrency": concurrency.run,
    "temporal": temporal_durable.run,
    "keep_warm": keep_warm.run,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: a sanity run")
    parser.add_argument(
        "--only", nargs="+", choices=sorted(BENCHMARKS), help="run only these benchmarks"
    )
    parser.add_argument(
        "--results", type=Path, default=ROOT / "bench" / "results.json", help="where to write"
    )
    parser.add_argument(
        "--page", type=Path, default=ROOT / "docs" / "benchmarks.md", help="the page to write"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "generated": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": machine(),
        "versions": versions(),
    }
    for name, bench in BENCHMARKS.items():
        if args.only and name not in args.only:
            continue
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        begun = time.perf_counter()
        results[name] = bench(args.quick)
        results[name]["seconds"] = time.perf_counter() - begun
        print(f"bench: {name} done in {results[name]['seconds']:.0f} s", file=sys.stderr)
    results["wall_seconds"] = time.perf_counter() - started
    args.results.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    write_page(results, args.page)
    print(f"bench: wrote {args.results} and {args.page}", file=sys.stderr)
    return 0

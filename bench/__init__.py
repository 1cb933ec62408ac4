"""agentkit's benchmarks against its peers and against the floor: ``make bench``.

Each module measures one item of ``docs/benchmarks.md`` and exposes a
``run(quick: bool) -> dict`` that returns plain JSON-ready figures; ``bench.run``
calls them all, writes ``bench/results.json`` and regenerates the page.
"""

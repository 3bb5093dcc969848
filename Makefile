# mentor: two commands on a fresh machine — `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
MENTOR := $(VENV)/bin/mentor
DEMO ?= demo-workspace
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test check lint format clean bench reliability

# CPU PyTorch is pinned first so nothing pulls a multi-GB CUDA build; then the project itself.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev,tune]"
	@# The dashboard's browser test drives Debian's Chromium through Playwright (no browser download).
	@if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi
	touch $@

install: $(VENV)/.installed

## The main job on the embedded default: tiny model, generated SYLLO data, the daemon, CPU.
## A new demo each time: the previous $(DEMO) folder is replaced.
demo: install
	rm -rf $(DEMO)
	$(MENTOR) demo --keep $(DEMO) $(DEMO_ARGS)

## Lint, types and the whole test suite (what CI runs).
test: install check
	@rc=0; $(PY) -m pytest -q -p no:cacheprovider --timeout=900 --durations=10 || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: a broken suite, not a pass" >&2; exit 1; fi; \
	exit $$rc

## Every CPU benchmark beside its plain recipe, one JSON line each; fails below a floor (not in test).
bench: install
	$(PY) benchmarks/perf/bench.py

## Faults, hostile input, API fuzz and load at full size; rewrites docs/reliability.md (tens of minutes).
reliability: install
	$(PY) scripts/reliability.py

check: install
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(VENV)/bin/ruff format --check src tests benchmarks scripts
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format src tests benchmarks scripts
	$(VENV)/bin/ruff check --fix src tests benchmarks scripts

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .mypy_cache .ruff_cache

# The two commands: `make report` and `make test`. Both set up .venv when needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: test test-vantage6 report lab sample benchmark clean

# vantage6 5 needs Python >= 3.13 and lives in its own environment (never in .venv): the algorithm package in
# network/vantage6 is tested there through vantage6's mock network.
PY313 ?= $(shell for p in $(PYENV_ROOT)/versions/3.13*/bin/python3.13 $(HOME)/.pyenv/versions/3.13*/bin/python3.13 python3.13 /usr/bin/python3.13; do \
  $$p -c 'import sys; assert sys.version_info >= (3, 13)' >/dev/null 2>&1 && { command -v $$p; break; }; done)
V6 := .venv-vantage6
V6STAMP := $(V6)/.installed-stamp

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

test: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks studies notebooks network
	$(PY) -m pytest
	$(MAKE) test-vantage6

$(V6STAMP): pyproject.toml network/vantage6/pyproject.toml
	test -x $(V6)/bin/python || $(PY313) -m venv $(V6)
	$(V6)/bin/python -m pip install --quiet --upgrade pip
	$(V6)/bin/python -m pip install --quiet -e . -e "network/vantage6[test]"
	touch $(V6STAMP)

test-vantage6:
	@if [ -z "$(PY313)" ]; then \
	  if [ "$$CI" = "true" ]; then echo "ERROR: no Python 3.13 for the vantage6 tests (set PY313=...)" >&2; exit 1; fi; \
	  echo "No Python 3.13 found: the vantage6 algorithm's mock-network tests are skipped (set PY313=...)."; \
	else $(MAKE) $(V6STAMP) && $(V6)/bin/python -m pytest -q -p no:cacheprovider network/vantage6/tests; fi

report: $(STAMP)
	$(PY) -m analysis report data/sample -o reports/sample-report.html
	@echo "Open $(CURDIR)/reports/sample-report.html in a browser."

lab: $(STAMP)
	$(PY) -m analysis lab

sample: $(STAMP)
	$(PY) -m analysis sample -o data/sample --episodes 1500 --seed 2024 --force

benchmark: $(STAMP)
	$(PY) benchmarks/bench.py

clean:
	rm -rf $(VENV) $(V6) reports .pytest_cache

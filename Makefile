# The two commands: `make report` and `make test`. Both set up .venv when needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: test report lab sample benchmark clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

test: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks studies notebooks
	$(PY) -m pytest

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
	rm -rf $(VENV) reports .pytest_cache

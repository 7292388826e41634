# The front door: every target creates and uses the local virtualenv (.venv).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
MEMORY ?= 512MiB

.PHONY: install run test test-fast lint format typecheck bench clean

install: $(STAMP)

# An editable install leaves gitstream's bytecode to the first run, and none is written where
# PYTHONDONTWRITEBYTECODE is set: every start would compile its 35 modules again (~30 ms).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m compileall -q gitstream
	touch $(STAMP)

## Analyse this project's own history and write gitstream-report.json.
run: install
	$(BIN)/gitstream analyze --memory $(MEMORY) -o gitstream-report.json .

## Lint, type-check, then the test suite (benchmarks excluded).
test: install lint typecheck
	$(BIN)/python -m pytest -m "not bench"

## The tests without the slow ones, for a quick loop.
test-fast: install
	$(BIN)/python -m pytest -m "not bench and not slow" -q

lint: install
	$(BIN)/ruff check gitstream tests benchmarks examples
	$(BIN)/ruff format --check gitstream tests benchmarks examples

format: install
	$(BIN)/ruff format gitstream tests benchmarks examples
	$(BIN)/ruff check --fix gitstream tests benchmarks examples

typecheck: install
	$(BIN)/mypy

## Long benchmarks on generated histories; prints a table, writes benchmarks/results.json.
bench: install
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info gitstream-report.json

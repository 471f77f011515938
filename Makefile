# golive: `make demo` and `make test` set up everything they need, idempotently.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: all venv system demo test chaos lint unit integration bench clean lab-down

all: test

# The lab is its own distribution (lab/pyproject.toml), installed beside the product.
$(STAMP): pyproject.toml lab/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	$(BIN)/pip install -q --disable-pip-version-check -e ./lab
	@touch $(STAMP)

# Bytecode for the editable install, as pip writes it for a regular one: with
# PYTHONDONTWRITEBYTECODE set, every golive start would compile its modules again.
venv: $(STAMP)
	@$(BIN)/python -m compileall -q src lab/src flows >/dev/null

system:
	@bash scripts/install-system.sh

lint: venv
	$(BIN)/ruff check src lab tests bench flows
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

test: venv system lint
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# The whole chaos matrix on the lab (make test runs its subset): faults at each phase, SIGKILL at 20 points.
chaos: venv system
	GOLIVE_CHAOS_FULL=1 $(BIN)/python -m pytest -q -p no:cacheprovider -m chaos $(PYTEST_ARGS)

unit: venv
	$(BIN)/python -m pytest -q tests/unit tests/test_cases.py $(PYTEST_ARGS)

demo: venv system
	@bash scripts/demo.sh

bench: venv system
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lab-down:
	-$(BIN)/golive lab down

clean: lab-down
	rm -rf $(VENV) .golive runs .mypy_cache .ruff_cache .pytest_cache

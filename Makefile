# claude-orchestrator — developer entry points.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: install test lint typecheck unit bench demo clean

$(BIN)/claude-orchestrator: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --config-settings editable_mode=compat -e '.[dev]'
	touch $@

install: $(BIN)/claude-orchestrator

lint: install
	$(BIN)/ruff check claude_orchestrator tests bench
	$(BIN)/ruff format --check claude_orchestrator tests bench

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -q

test: lint typecheck unit

bench: install
	$(BIN)/python bench/cli_latency.py
	$(BIN)/python bench/dispatch_latency.py

demo: install
	@echo "make demo: the team bring-up demo arrives with the supervisor (issue 4)."
	@echo "For now: see README.md, 'Coordination commands', for a walk through the CLI."

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build *.egg-info

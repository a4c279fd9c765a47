# claude-orchestrator — developer entry points.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: install test lint typecheck unit bench chaos demo zookeeper clean

$(BIN)/claude-orchestrator: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --config-settings editable_mode=compat -e '.[dev]'
	touch $@

install: $(BIN)/claude-orchestrator

lint: install
	$(BIN)/ruff check claude_orchestrator tests bench examples
	$(BIN)/ruff format --check claude_orchestrator tests bench examples
	$(BIN)/vulture claude_orchestrator vulture_whitelist.py --min-confidence 60

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -q

test: lint typecheck unit

bench: install
	$(BIN)/python bench/cli_latency.py
	$(BIN)/python bench/dispatch_latency.py
	$(BIN)/python bench/supervisor_bench.py
	$(BIN)/python bench/throughput.py

# The chaos suite, full run (several minutes); tests/test_chaos.py runs its --short mode.
chaos: zookeeper install
	$(BIN)/python bench/chaos.py

demo: zookeeper install
	$(BIN)/python examples/hello/demo.py
	$(BIN)/python examples/pipeline/demo.py
	$(BIN)/python examples/git/demo.py

# The embedded server needs ZooKeeper's jars; install Debian's package when missing.
zookeeper:
	@test -e /usr/share/java/zookeeper.jar || test -n "$$ZOOKEEPER_HOME" || { \
	  echo "installing the zookeeper package (needs root and apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zookeeper; }

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build *.egg-info

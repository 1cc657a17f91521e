# `make demo` and `make test` each set up .venv on first use, then run.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The CPU build of torch that lies on these machines' disk; only used when no torch is present,
# so GPU users keep the torch they have.
TORCH_CPU ?= torch==2.13.0

.PHONY: setup demo test test-fast lint format figures docs reproduce dash clean

setup: $(STAMP)

# torch comes through pip, whose configuration on a machine says where a local CPU build lies
# (uv does not read pip's). Everything else through uv (from PyPI), which resolves, downloads
# and installs in parallel: pip took 112 s for it on the 2-core CPU, uv 13 s, plus the bytecode
# both compile (the suite and the demo start many Python processes, and the environment may
# forbid writing bytecode later). pip -qq: errors only (at -q a machine whose pip config names
# missing index folders warns once per package). A failed install prints its error, stops make.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -qq --upgrade pip uv
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -qq $(TORCH_CPU)
	$(BIN)/uv pip install -q --python $(BIN)/python --compile-bytecode -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/sgt-probe demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Test files run side by side in TEST_WORKERS processes (pytest-xdist), each file whole in one
# worker, so a module's fixtures are built once; what several files share is built once per run
# (tests/helpers_train.py: built_once). Files are handed out in collection order, which puts the
# longest first (tests/conftest.py: LONGEST_FIRST), not xdist's order by number of tests.
TEST_WORKERS ?= 2
# Bytecode is written even where the environment says not to (PYTHONDONTWRITEBYTECODE): the
# suite starts many Python processes (xdist and Ray workers, CLI runs), which then compile the
# project's modules once, not each on its own.
PYTEST := PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile \
	--no-loadscope-reorder

test: lint
	$(PYTEST)

# the fast tier: every test but those marked slow (tests/conftest.py), for a change's first check
test-fast: $(STAMP)
	$(PYTEST) -m "not slow"

figures: $(STAMP)
	$(BIN)/python -m sgt_probe.analyses.make_all runs/demo

# docs/report-schema.md is generated from the report schema; a test fails when it is stale
docs: $(STAMP)
	$(BIN)/python -m sgt_probe.report.docs

reproduce: $(STAMP)
	$(BIN)/sgt-probe reproduce --preset small --seeds 3 --out runs/repro

dash: $(STAMP)
	$(BIN)/sgt-probe dash runs/demo/report

clean:
	rm -rf $(VENV) runs tests/artifacts

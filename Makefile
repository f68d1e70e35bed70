# Two commands on a fresh machine: `make run` (the main job) and `make test` (the test suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-deep mutants benchmark clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# The CPU build of torch; an unpinned torch would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[dev,torch]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/eiesim paper --out results

test: $(STAMP)
	# pytest exits 5 when it collects no test; that is not a failure of the suite.
	$(BIN)/python -m pytest -q -n 2 || [ $$? -eq 5 ]
	# The fast engine's kernels once more as plain Python, so their source is exercised too.
	NUMBA_DISABLE_JIT=1 $(BIN)/python -m pytest -q -k fast tests/test_fast_engine.py tests/test_engines.py || [ $$? -eq 5 ]

# Hypothesis with fresh random examples, ten times as many (a failure prints a reproduce blob).
test-deep: $(STAMP)
	HYPOTHESIS_PROFILE=deep $(BIN)/python -m pytest -q -n 2

# Mutation testing (mutmut) of the modules with normative arithmetic, one after another;
# MODULE=eiesim/fit.py runs one. Results: build/mutants/*.json, recorded in docs/testing.md.
mutants: $(STAMP)
	$(BIN)/python tools/mutants.py $(MODULE)

benchmark: $(STAMP)
	$(BIN)/python -m pytest -q -s -m benchmark benchmarks

clean:
	rm -rf $(VENV) results/*.json results/*.md results/figures results/data results/sweep

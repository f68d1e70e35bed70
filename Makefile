# Two commands on a fresh machine: `make run` (the main job) and `make test` (the test suite);
# `make lab` opens the coursework labs in Jupyter Lab.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Where torch 2.13.0 comes from. Plain PyPI gives Linux the CUDA build (GBs of nvidia
# packages); PyTorch's CPU wheel index is added so pip takes its CPU build (2.13.0+cpu)
# wherever that index has one. It is used only if it answers within TORCH_TIMEOUT seconds
# (checked once, at install); otherwise torch comes from the configured package index
# (e.g. a local CPU wheel). Another index: `make TORCH_INDEX=URL`; none: `make TORCH_INDEX=`.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH_TIMEOUT ?= 10
TORCH_SOURCE = $(shell [ -n "$(TORCH_INDEX)" ] && $(PYTHON) -c "import urllib.request; \
  urllib.request.urlopen('$(TORCH_INDEX)/torch/', timeout=$(TORCH_TIMEOUT))" >/dev/null 2>&1 \
  && echo "--extra-index-url $(TORCH_INDEX)")

.PHONY: run test test-deep mutants benchmark lab clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	@echo "torch 2.13.0 from: $(or $(TORCH_SOURCE),the configured package index)"
	# numpy with torch: importing torch below without numpy would warn "Failed to initialize NumPy".
	$(BIN)/python -m pip install -q $(TORCH_SOURCE) torch==2.13.0 "numpy>=1.26"
	# torch stays pinned while the rest installs (nothing may swap it for another build).
	echo "torch==$$($(BIN)/python -c 'import torch; print(torch.__version__)')" > $(VENV)/torch-pin.txt
	$(BIN)/python -m pip install -q -c $(VENV)/torch-pin.txt -e ".[dev,torch,onnx]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/eiesim paper --out results

test: $(STAMP)
	# pytest exits 5 when it collects no test; that is not a failure of the suite.
	$(BIN)/python -m pytest -q -n 2 || [ $$? -eq 5 ]
	# The fast engine's kernels once more as plain Python, so their source is exercised too.
	NUMBA_DISABLE_JIT=1 $(BIN)/python -m pytest -q -k fast tests/test_fast_engine.py tests/test_engines.py || [ $$? -eq 5 ]

# Hypothesis with fresh random examples, ten times as many (a failure prints a reproduce blob),
# and the slow tests that make test leaves out (every lab graded, not a fixed sample).
test-deep: $(STAMP)
	HYPOTHESIS_PROFILE=deep $(BIN)/python -m pytest -q -n 2 -m "not benchmark"

# Mutation testing (mutmut) of the modules with normative arithmetic, one after another;
# MODULE=eiesim/fit.py runs one, JOBS=1 one mutant at a time. Results: build/mutants/*.json, recorded in docs/testing.md.
mutants: $(STAMP)
	$(BIN)/python tools/mutants.py $(if $(JOBS),--jobs $(JOBS)) $(MODULE)

# Jupyter Lab and ipywidgets (progress bars), every lab as a notebook in labs/ (kept if
# already there, so your answers stay), then Jupyter Lab opened on that folder.
lab: $(STAMP)
	$(BIN)/python -m pip install -q -c $(VENV)/torch-pin.txt -e ".[lab]"
	mkdir -p labs
	for f in notebooks/lab*.py; do \
	  name=$$(basename $$f .py); n=$${name#lab}; n=$${n%%_*}; \
	  [ -e labs/$$name.ipynb ] || $(BIN)/eiesim lab open $$n --dest labs; \
	done
	# Jupyter refuses to start as root without --allow-root (containers often run as root).
	$(BIN)/jupyter lab $$([ "$$(id -u)" = 0 ] && echo --allow-root) labs

benchmark: $(STAMP)
	$(BIN)/python -m pytest -q -s -m benchmark benchmarks

clean:
	rm -rf $(VENV) results/*.json results/*.md results/figures results/data results/sweep

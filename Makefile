# Every target sets itself up first; `make setup` is idempotent and fast when done.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp
RUNTIME_STAMP := $(VENV)/.runtime-stamp
TORCH_PIN := torch==2.13.0

.PHONY: setup demo test test-fast lint format bench bench-all clean

setup: $(STAMP)

# The package and its runtime dependencies only: all `make demo` needs.
$(RUNTIME_STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	# The pin installs a CPU build from local disk; an unpinned torch would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install -q "$(TORCH_PIN)"
	$(BIN)/python -m pip install -q -e . "$(TORCH_PIN)"
	touch $(RUNTIME_STAMP)

# ... plus the test and bench extras, for everything else.
$(STAMP): $(RUNTIME_STAMP) pyproject.toml setup.py
	$(BIN)/python -m pip install -q -e ".[test,bench]" "$(TORCH_PIN)"
	touch $(STAMP)

demo: $(RUNTIME_STAMP)
	rm -rf demo-out
	$(BIN)/bytepatch segment examples/sample --output demo-out
	$(BIN)/bytepatch stats demo-out

test: setup
	$(BIN)/python -m pytest -q

# The inner loop (about 3 minutes on a 2-core box): every test not marked slow. Tests that
# train models, start worker pools or torchrun are marked slow; `make test` runs them all.
test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

# ruff: errors (lint) and formatting; `make format` applies the formatter.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .

bench: setup
	$(BIN)/python bench/segment.py

# Every benchmark but the 20-minute training comparison (bench/paper_claim.py).
bench-all: bench
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/entropy_ngram.py
	$(BIN)/python bench/entropy_lm.py
	$(BIN)/python bench/engines.py
	$(BIN)/python bench/train.py
	$(BIN)/python bench/attention.py
	$(BIN)/python bench/generate.py
	$(BIN)/python bench/long_document.py

clean:
	rm -rf $(VENV) demo-out build *.egg-info

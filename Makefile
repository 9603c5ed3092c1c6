# caloforge developer commands. The two set-up commands of the README are `make demo` and `make test`;
# both create the virtual environment .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A CPU build of torch first, so that pip keeps it (an unpinned torch pulls a multi-GB CUDA build).
# Users with a GPU: make TORCH_SPEC='torch' ...
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?=
export OMP_NUM_THREADS ?= 2
export MPLBACKEND := Agg

.PHONY: help install test lint typecheck unit demo bench validate clean

help:
	@echo "make demo      simulate, generate with a pretrained model, evaluate, write an HTML report"
	@echo "make test      lint, type checks and the whole test suite (creates .venv)"
	@echo "make lint      ruff + mypy only"
	@echo "make bench     speed/memory benchmarks (tables)"
	@echo "make validate  physics validation of the reference simulation (table of target vs measured)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade "pip>=23"
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

lint: install
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy

unit: install
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

test: lint unit

demo: install
	$(BIN)/caloforge demo

bench: install
	$(BIN)/python benchmarks/run.py

validate: install
	$(BIN)/python scripts/validate_physics.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist

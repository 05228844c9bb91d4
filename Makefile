# dmtl: `make train` trains and evaluates the default model on synthetic scenes; `make test` tests.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DMTL := $(VENV)/bin/dmtl
STAMP := $(VENV)/.installed
PIP_QUIET := -q --disable-pip-version-check

# Offline by default: no update checks, no hub downloads, W&B (if chosen) writes locally.
export NO_ALBUMENTATIONS_UPDATE := 1
export HF_HUB_OFFLINE ?= 1
export WANDB_MODE ?= offline
export PYTHONUNBUFFERED := 1

TRAIN_CONFIG ?= experiments/synthetic/default.yaml
BASELINE_RESULTS ?= experiments/synthetic/references/mtl_onelabel_seed0.yaml
RUNS ?= runs
RUN_NAME ?= default
RUN_VERSION := $(shell date +%Y%m%d-%H%M%S)
RUN_DIR := $(RUNS)/$(RUN_NAME)/$(RUN_VERSION)

.PHONY: help install train test test-slow lint clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: $(STAMP) ## create .venv and install dmtl with the tested pins (constraints.txt)

$(STAMP): setup.cfg pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
# W&B's sweep engine (below) pins numpy<2 and is installed without its dependencies; pip reports
# that pin as a dependency conflict whenever a later install touches one of the engine's
# dependencies, so it is taken out first and put in last.
	$(PY) -m pip uninstall $(PIP_QUIET) -y sweeps 2>/dev/null
	$(PY) -m pip install $(PIP_QUIET) -c constraints.txt -e '.[dev]' 2>&1 \
	  | { grep -v '^WARNING: Location' || true; }
# The two packages the sweep engine needs to validate sweep files, then the engine itself for the
# offline sweep tests: --no-deps (its numpy<2 would downgrade numpy; grid and random search work
# with numpy 2), --no-warn-conflicts (the only conflicts this step can report are that pin and
# the optional dependencies deliberately left out).
	$(PY) -m pip install $(PIP_QUIET) -c constraints.txt jsonschema jsonref
	$(PY) -m pip install $(PIP_QUIET) --no-deps --no-warn-conflicts sweeps
	$(PY) -c "import dmtl, lightning, timm, torchmetrics, albumentations, sweeps"
	touch $@

train: install ## train the default model on synthetic scenes, test it, show the results
	$(DMTL) fit --config $(TRAIN_CONFIG) \
	  --trainer.logger.init_args.save_dir=$(RUNS) --trainer.logger.init_args.name=$(RUN_NAME) \
	  --trainer.logger.init_args.version=$(RUN_VERSION)
	$(DMTL) test --config $(TRAIN_CONFIG) \
	  --trainer.logger.init_args.save_dir=$(RUNS) --trainer.logger.init_args.name=$(RUN_NAME) \
	  --trainer.logger.init_args.version=$(RUN_VERSION)-test \
	  --ckpt_path $(RUN_DIR)/checkpoints/last.ckpt
	$(PY) experiments/synthetic/compare_constant.py --config $(TRAIN_CONFIG) \
	  --results $(RUN_DIR)-test/test_metrics.json --baseline $(BASELINE_RESULTS)
	@echo "checkpoint: $(RUN_DIR)/checkpoints/last.ckpt"
	@echo "panels:     $$(ls $(RUN_DIR)/panels/*.png | tail -n 1)"
	@echo "metrics:    $(RUN_DIR)/metrics.csv, $(RUN_DIR)-test/test_metrics.json"

test: install ## run the test suite (not the slow tests)
	$(PY) -m pytest -m "not slow" -q

test-slow: install ## run only the slow end-to-end tests
	$(PY) -m pytest -m slow -q

lint: install ## ruff
	$(VENV)/bin/ruff check src tests experiments

clean: ## remove runs and caches (not the venv, not rendered data)
	rm -rf $(RUNS) .pytest_cache .ruff_cache

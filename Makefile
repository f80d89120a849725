# Two commands for a newcomer: `make demo` and `make test`. Each installs what it needs on its own.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ENV ?= dev
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export AWS_DEFAULT_REGION ?= us-east-1

NODE_STAMP := node_modules/.installed
CDK := npx --no-install cdk

.PHONY: help venv demo test lint format typecheck check bench preview clean synth synth-all diff deploy bootstrap \
	faults fuzz drill-local storm dist screenshots

help:
	@echo "make demo          run the samples through the real forwarders against local PagerDuty and Slack stand-ins, then one alert's Slack thread (acknowledge, mute, resolve)"
	@echo "make test          run every test"
	@echo "make check         lint, types and tests: exactly what CI runs"
	@echo "make bench         cold start, warm latency and memory of a forwarder"
	@echo "make preview FILE= show the request bodies for a payload (nothing is sent)"
	@echo "make screenshots   the main message kinds as Slack draws them, to PNG in docs/screenshots/ (headless Chromium)"
	@echo "make faults        1,000 alerts per forwarder through real faults (lost answers, resets, outages of minutes)"
	@echo "make storm         1,000 CloudWatch alarms within a minute, then their OKs, through the local pipeline"
	@echo "make fuzz          10,000 generated payloads through parse, normalise, redact and render: limits and time"
	@echo "make drill-local   the pager drill against the local pipeline (ENV=dev by default)"
	@echo "make synth ENV=    synthesize an environment (config/ENV.json); no AWS credentials needed"
	@echo "make diff ENV=     what a deploy would change in the account"
	@echo "make deploy ENV=   deploy an environment (after 'make bootstrap ENV=' once per account and region)"
	@echo "make dist          build the wheel (the CDK library with the Lambda code inside) into dist/"

$(STAMP): requirements.txt requirements-dev.txt functions/requirements.txt constraints.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	touch $(STAMP)

venv: $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

demo: $(STAMP)
	$(PY) -m tools.demo

# Two workers: the long tests mostly wait on the stand-ins' rate limits (Slack's 1 message a second), not the CPU.
test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist worksteal

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

typecheck: $(STAMP)
	$(PY) -m mypy

check: lint typecheck test synth-all

# Ends with what the environment deploys and an estimated monthly cost, read from cdk.out (infra/summary.py).
synth: $(STAMP) $(NODE_STAMP)
	$(CDK) synth -c env=$(ENV) --quiet
	@$(PY) -m infra.summary cdk.out --env $(ENV)

# Every shipped environment, with no AWS credentials at all.
synth-all: $(STAMP) $(NODE_STAMP)
	@mkdir -p cdk.out; for env in dev prod scale; do \
	  start=$$(date +%s); \
	  env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE \
	    $(CDK) synth -c env=$$env --quiet --output cdk.out/$$env >cdk.out/synth-$$env.log 2>&1 \
	    || { cat cdk.out/synth-$$env.log; exit 1; }; \
	  echo "synth $$env: ok in $$(( $$(date +%s) - start ))s"; \
	done

diff: $(STAMP) $(NODE_STAMP)
	$(CDK) diff -c env=$(ENV) --all

bootstrap: $(STAMP) $(NODE_STAMP)
	$(CDK) bootstrap -c env=$(ENV)

deploy: $(STAMP) $(NODE_STAMP)
	$(CDK) deploy -c env=$(ENV) --all --require-approval broadening

# The wheel, with the pinned build backend (pyproject.toml [build-system]); build/ and the egg-info are left behind
# by setuptools and removed.
dist: $(STAMP)
	rm -rf dist build
	$(PY) -m pip wheel --quiet --disable-pip-version-check --no-deps --wheel-dir dist .
	rm -rf build *.egg-info
	@ls dist/*.whl

bench: $(STAMP)
	$(PY) -m tools.bench

faults: $(STAMP)
	$(PY) -m tools.faults

storm: $(STAMP)
	$(PY) -m tools.storm

fuzz: $(STAMP)
	CI= FUZZ_EXAMPLES=10000 FUZZ_SHRINK=1 $(PY) -m pytest -q -s tests/unit/test_fuzz.py

drill-local: $(STAMP)
	$(PY) -m tools.drill --env $(or $(ENV),dev) --local

preview: $(STAMP)
	$(PY) -m tools.preview $(FILE)

screenshots: $(STAMP)
	$(PY) -m tools.screenshots docs/screenshots

clean:
	rm -rf $(VENV) node_modules cdk.out .pytest_cache .mypy_cache .ruff_cache .hypothesis .bench

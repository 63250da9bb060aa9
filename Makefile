# One entry point for people and CI. `make demo` runs the whole system locally; `make test` runs every suite.
SHELL := /bin/bash
PY := .venv/bin/python
CDK := node_modules/.bin/cdk
APT_PACKAGES := espeak-ng sox libsox-fmt-mp3 lame portaudio19-dev pulseaudio pulseaudio-utils libasound2-plugins nodejs
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export HF_HUB_OFFLINE := 1

.PHONY: help system-deps venv test test-unit test-infra test-server test-integration test-edge demo up synth deploy bench bench-smoke lint clean

help:
	@echo "make demo    - run the whole pipeline on this machine (no AWS account, no API key)"
	@echo "make test    - run every test suite (what CI runs)"
	@echo "make up      - run the local stack in the foreground (python -m callctl up)"
	@echo "make synth   - synthesize the CDK app (offline)"
	@echo "make deploy  - deploy to your AWS account (needs credentials and cdk bootstrap)"
	@echo "make bench   - run the benchmark suite"

# Debian/Ubuntu system packages: TTS for sample calls, PortAudio for the edge client, PulseAudio for the CI mic.
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "missing system packages:$$missing (run: sudo apt-get install$$missing)"; exit 1; fi; \
	  echo "installing:$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

.venv/.installed: requirements.txt requirements-nodeps.txt functions/requirements.txt
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -r requirements-nodeps.txt
	touch $@

# The AWS CDK CLI, pinned in package.json/package-lock.json (never a floating `npx aws-cdk@2`).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

venv: .venv/.installed node_modules/.installed

test: system-deps venv
	$(PY) -m pytest tests

test-unit: venv
	$(PY) -m pytest tests/unit
test-infra: venv
	$(PY) -m pytest tests/infra
test-server: venv
	$(PY) -m pytest tests/server
test-integration: venv
	$(PY) -m pytest tests/integration
test-edge: venv
	$(PY) -m pytest tests/edge

demo: system-deps venv
	$(PY) -m callctl demo

up: system-deps venv
	$(PY) -m callctl up

synth: venv
	$(PY) app.py

deploy: venv
	PATH="$(CURDIR)/.venv/bin:$$PATH" $(CDK) deploy -c bundle=true

bench: system-deps venv
	$(PY) -m bench

bench-smoke: venv
	$(PY) -m bench --smoke

lint: venv
	$(PY) -m ruff check .

clean:
	rm -rf cdk.out build .pytest_cache

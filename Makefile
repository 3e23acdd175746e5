# sfglue: the two commands a new user needs are `make demo` and `make test`.
# Everything else here is a building block of those two.

SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
CARGO ?= cargo

.PHONY: all venv build test test-rust test-python test-python39 test-clients test-salesforce-cli lint leak-reset leak-guard demo emulators-up emulators-down clean

# Every test's output, the emulators' logs and the runners' output land here; the leak guard
# scans it all at the end of `make test` for private keys and access tokens.
LEAK_DIR := $(CURDIR)/target/leak-guard
export SFGLUE_LEAK_DIR := $(LEAK_DIR)

all: build

# The Python side (moto, the Glue script's libraries, pytest, ruff) lives in a venv with pinned versions.
$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

# One profile (dev) for everything, so the test run reuses this build.
build:
	$(CARGO) build --workspace --all-targets --locked

demo: venv build
	scripts/demo.sh

emulators-up: venv build
	@scripts/emulators.sh up

emulators-down:
	@scripts/emulators.sh down

lint: venv
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	$(VPY) -m ruff check glue_scripts tests/python emulators/aws scripts benches

leak-reset:
	rm -rf $(LEAK_DIR) && mkdir -p $(LEAK_DIR)

test-rust: venv build
	mkdir -p $(LEAK_DIR)
	$(CARGO) test --workspace --locked 2>&1 | tee $(LEAK_DIR)/cargo-test.log

test-python: venv build
	mkdir -p $(LEAK_DIR)
	$(VPY) -m pytest -q tests/python 2>&1 | tee $(LEAK_DIR)/pytest.log
	scripts/test_python39.sh 2>&1 | tee $(LEAK_DIR)/pytest-py39.log

# The extractor's tests again on Python 3.9 (Glue Python shell's version), in .venv39 from
# requirements-py39.txt; prints one SKIPPED line where no Python 3.9 is installed.
test-python39: venv build
	mkdir -p $(LEAK_DIR)
	scripts/test_python39.sh 2>&1 | tee $(LEAK_DIR)/pytest-py39.log

test-clients: venv build
	mkdir -p $(LEAK_DIR)
	emulators/salesforce/clients/run.sh 2>&1 | tee $(LEAK_DIR)/clients.log

# The generated Salesforce metadata converts with the pinned Salesforce CLI (offline, loopback only).
test-salesforce-cli: venv build
	mkdir -p $(LEAK_DIR)
	tests/salesforce_cli/run.sh 2>&1 | tee $(LEAK_DIR)/salesforce-cli.log

leak-guard:
	$(VPY) scripts/leak_guard.py $(LEAK_DIR)

test: lint leak-reset test-rust test-python test-clients test-salesforce-cli leak-guard

# Stops the by-hand emulators first: their PID files live in .emulators.
clean:
	-scripts/emulators.sh down
	rm -rf .demo .emulators

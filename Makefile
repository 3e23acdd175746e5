# sfglue: the two commands a new user needs are `make demo` and `make test`.
# Everything else here is a building block of those two.

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
CARGO ?= cargo

.PHONY: all venv build test test-rust test-python test-clients lint demo emulators-up emulators-down clean

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
	$(VPY) -m ruff check glue_scripts tests/python emulators/aws

test-rust: venv build
	$(CARGO) test --workspace --locked

test-python: venv build
	$(VPY) -m pytest -q tests/python

test-clients: venv build
	@if [ -x emulators/salesforce/clients/run.sh ]; then emulators/salesforce/clients/run.sh; fi

test: lint test-rust test-python test-clients

clean:
	rm -rf .demo .emulators

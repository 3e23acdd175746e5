# sfglue: the two commands a new user needs are `make demo` and `make test`.
# Everything else here is a building block of those two.

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
CARGO ?= cargo

.PHONY: all venv build test test-rust test-python lint demo emulators-up emulators-down clean

all: build

# The Python side (moto, the Glue script's libraries, pytest) lives in a venv with pinned versions.
$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

build:
	$(CARGO) build --workspace --all-targets --locked

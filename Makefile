# ltisync: the two commands a new user needs are `make demo` and `make test`.
# Both install what they need into this directory (.venv for Python tools)
# and need neither an AWS account nor Docker.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VENV_STAMP := $(VENV)/.installed-$(shell cksum < requirements-dev.txt | cut -d' ' -f1)
CARGO ?= cargo

.PHONY: test demo venv lint unit clean

## test: every check and every test (what CI runs)
test: venv lint
	$(CARGO) build --workspace --bins
	scripts/with-moto.sh $(CARGO) test --workspace

## demo: the whole flow locally, against moto and the LTIaaS simulator
demo: venv
	$(CARGO) build --release --workspace --bins
	scripts/with-moto.sh target/release/demo

## lint: formatting and clippy, warnings are errors
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## venv: the project-local virtualenv with moto (and the template checks)
venv: $(VENV_STAMP)

$(VENV_STAMP): requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

clean:
	rm -rf $(VENV) target

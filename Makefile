# flink-lifecycle — every target runs from a fresh clone; `make test` is what CI runs.
SHELL := /bin/bash
CARGO ?= cargo
BIN := target/debug/flink-lifecycle

.PHONY: build test lint fmt fmt-check crds verify-crds run certs manifests bench e2e deploy image ci

build:
	$(CARGO) build --locked

## All tests: unit, integration (webhook over TLS, real Flink clusters, in-memory Kubernetes).
test:
	$(CARGO) test --locked --all-targets

lint: fmt-check
	$(CARGO) clippy --locked --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

## Regenerate the committed CRDs and print their sizes.
crds:
	$(CARGO) run --locked --quiet -- crd --out manifests/crds

verify-crds:
	$(CARGO) test --locked --test crds

run: build
	$(BIN) crd --out target/crds-preview
	@echo "The webhook and the controllers are not in this build yet; the CRDs above are what exists."

ci: lint test

# flink-lifecycle — every target runs from a fresh clone; `make test` is what CI runs.
SHELL := /bin/bash
CARGO ?= cargo
BIN := target/debug/flink-lifecycle

.PHONY: install build test test-deps lint fmt fmt-check crds verify-crds run certs manifests bench e2e e2e-images e2e-local soak soak-faults soak-concurrent deploy image ci

build:
	$(CARGO) build --locked

## flink-lifecycle on PATH: cargo install puts it in ~/.cargo/bin.
install:
	$(CARGO) install --locked --path .

## All tests: unit, integration (webhook over TLS, real Flink clusters, in-memory Kubernetes, a
## real control plane). Installs what they need first (idempotent; seconds when present).
test: test-deps
	$(CARGO) test --locked --all-targets --no-fail-fast

## What the tests need: kubectl, lua5.1, checkov, kubernetes-validate, gdb, zookeeper (.ci/install-tools),
## Flink 1.20.5 and 2.3.0 from PyPI, and kube-apiserver/controller-manager/etcd built from the
## Kubernetes Go modules (tests/cluster/build.sh; ~13 min cold on 2 cores, cached by version).
## The cold Go build runs in the background at niceness 19, beside the Rust build and the tests
## before the real-cluster tier, which waits for it.
test-deps:
	bash .ci/install-tools
	for v in 1.20.5 2.3.0; do bash tests/flink-harness/install-flink.sh $$v >/dev/null; done
	bash tests/cluster/build.sh --background >/dev/null

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

## Development certificates (certs/README.md); git ignores everything there but the README.
DEV_CERTS := certs

## The operator on this machine: controllers against the current kubeconfig's cluster plus the webhook
## (HTTPS :9443, admin :8080, dev certificates generated if absent). Without a cluster it says so and
## serves the webhook alone.
run: build
	@test -f $(DEV_CERTS)/tls.crt || $(BIN) certs --out $(DEV_CERTS) --dns localhost --dns 127.0.0.1
	$(BIN) run --webhook-addr 127.0.0.1:9443 --admin-addr 127.0.0.1:8080 --tls-dir $(DEV_CERTS)

ci: lint test

## Dev webhook certificates (CA + serving pair for localhost) in certs/. An existing CA is kept
## (the command fails and says so); FORCE=1 replaces it.
certs: build
	$(BIN) certs --out $(DEV_CERTS) --dns localhost --dns 127.0.0.1 $(if $(FORCE),--force)

## The real-cluster tier (also in make test): a real kube-apiserver, kube-controller-manager and
## etcd built from the Kubernetes Go modules (tests/cluster/, cached by version) on 127.0.0.1:
## install with kubectl apply -k, examples, status preconditions, the controllers with the
## manifests' RBAC only, admission through the apiserver; then the lifecycle on real Flink with
## the test node running the Pods (real_cluster_lifecycle, real_cluster_faults: Kubernetes HA;
## real_cluster_operator_pod: the install synced wave by wave, the operator's Pod from the binary).
## E2E_KUBECONFIG=<file>: the API suite against that cluster (the test node stays out of it).
e2e:
	bash tests/cluster/build.sh >/dev/null
	$(CARGO) test --locked --test real_cluster_api $(if $(E2E_KUBECONFIG),,--test real_cluster_lifecycle --test real_cluster_faults --test real_cluster_operator_pod) -- --nocapture

## Real Flink images on a real multi-node-capable cluster (kind, a cloud cluster): the current
## kubeconfig's, with the operator installed (make deploy).
e2e-images:
	$(CARGO) test --locked --test real_cluster -- --ignored --test-threads=1 --nocapture

## End-to-end on this machine (also in make test): real Flink clusters driven through the in-memory Kubernetes API.
e2e-local:
	$(CARGO) test --locked --test e2e_lifecycle --test 'flink_*' --test kubelet -- --nocapture

# A longer search of the lifecycle property test: more and longer random histories (release build).
soak:
	PROPS_CASES=$${PROPS_CASES:-300000} PROPS_MAX_OPS=$${PROPS_MAX_OPS:-14} \
		$(CARGO) test --locked --release --test lifecycle_props random_histories -- --nocapture

## Faults injected into real Flink processes (docs/state-safety.md), SOAK_RUNS times in a row:
## no HA (every cell of e2e_faults*, and the whole mode x step x moment x fault matrix of
## e2e_fault_matrix: E2E_FAULTS_ALL=1), ZooKeeper HA, and every Kubernetes-HA cell on the real
## control plane. The matrix binary alone (105 cells, no HA and ZooKeeper HA) takes about an
## hour, past the end-to-end watchdog's 20 min default, hence its longer limit here.
SOAK_RUNS ?= 10
soak-faults:
	@for i in $$(seq 1 $(SOAK_RUNS)); do \
		echo "== soak-faults run $$i of $(SOAK_RUNS)"; \
		E2E_FAULTS_ALL=1 E2E_WATCHDOG_SECONDS=7200 $(CARGO) test --locked --test e2e_faults --test e2e_faults_steps --test e2e_faults_resume --test e2e_fault_matrix --test e2e_zookeeper -- --test-threads=2 || exit 1; \
		REAL_FAULTS_ALL=1 $(CARGO) test --locked --test real_cluster_faults || exit 1; \
	done

## The write-ahead status under load (docs/state-safety.md), SOAK_RUNS times in a row: three
## savepoint-mode jobs on real Flink upgraded at once, then edited again mid-flight.
soak-concurrent:
	@for i in $$(seq 1 $(SOAK_RUNS)); do \
		start=$$(date +%s); log=target/soak-concurrent-$$i.log; \
		E2E_FAULTS_ALL=1 $(CARGO) test --locked --test e2e_faults concurrent_upgrades_edited_mid_flight_keep_each_jobs_state -- --exact --nocapture >$$log 2>&1 \
			|| { tail -60 $$log; echo "soak-concurrent: run $$i of $(SOAK_RUNS) failed ($$log)"; exit 1; }; \
		echo "soak-concurrent: run $$i of $(SOAK_RUNS) passed in $$(( $$(date +%s) - start )) s"; \
	done

## Install manifests: render every kustomize overlay into target/manifests/<overlay>.yaml.
OVERLAYS := cert-manager cert-manager-ha self-signed self-signed-watch-namespaces
OVERLAY ?= self-signed
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
IMAGE ?= flink-lifecycle:$(VERSION)

manifests:
	@mkdir -p target/manifests
	@for o in $(OVERLAYS); do kubectl kustomize manifests/overlays/$$o > target/manifests/$$o.yaml && echo "target/manifests/$$o.yaml: $$(wc -c < target/manifests/$$o.yaml) bytes"; done

## Install into the current kubeconfig's cluster (OVERLAY=cert-manager|cert-manager-ha|self-signed|self-signed-watch-namespaces).
deploy:
	kubectl apply -k manifests/overlays/$(OVERLAY)

## Build the operator image (multi-stage, non-root runtime).
image:
	docker build -t $(IMAGE) .

## Benchmarks (optimised build): webhook reviews/s and latency over TLS -> bench-results/webhook.md;
## the webhook process under 100 slow 3 MiB bodies -> bench-results/webhook-memory.md;
## the controller at 100/1,000/10,000 FlinkDeployments, idle footprint and binary size of the release
## build -> bench-results/controller.md (BENCH_COUNTS=100,1000 to run fewer). The release binary is
## built unstripped (the bench reports both sizes) and copied aside, since the bench profile writes
## to the same target/release path.
bench:
	$(CARGO) bench --locked --bench webhook
	CARGO_PROFILE_RELEASE_STRIP=false $(CARGO) build --locked --release
	cp target/release/flink-lifecycle target/flink-lifecycle.release
	$(CARGO) bench --locked --bench webhook_memory
	$(CARGO) bench --locked --bench controller_scale
	$(CARGO) bench --locked --bench upgrade_overhead
	bash tests/cluster/build.sh >/dev/null
	$(CARGO) bench --locked --bench real_cluster

#!/usr/bin/env bash
# Smoke check of the real control plane: build (or reuse the cache), start, talk to it, stop, and
# confirm that no process is left. Usage: smoke.sh   (exit 0 = all checks passed)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
t0=$(date +%s.%N)
bin="$("$here/build.sh" | tail -n1)"
build_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}')
export FLINK_LIFECYCLE_K8S_BIN="$bin"
wd="$(mktemp -d /tmp/flink-lifecycle-k8s.XXXXXX)"
trap '"$here/stop.sh" "$wd" || true' EXIT
kubectl() { "$bin/kubectl" --kubeconfig "$wd/admin.kubeconfig" --request-timeout=10s "$@"; }
check() { echo "smoke: ok: $*"; }

t1=$(date +%s.%N)
"$here/start.sh" "$wd" >/dev/null
start_s=$(awk -v a="$t1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}')
check "start.sh in ${start_s} s (build.sh ${build_s} s)"

server="$(kubectl version -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])')"
[[ "$server" == "$(cat "$here/K8S_VERSION")" ]] || { echo "smoke: server version $server" >&2; exit 1; }
check "server version $server"

kubectl create deployment x --image=nginx >/dev/null
deadline=$(( $(date +%s) + 60 ))
until [[ -n "$(kubectl get replicasets -l app=x -o name)" && -n "$(kubectl get pods -l app=x -o name)" ]]; do
  (( $(date +%s) < deadline )) || { echo "smoke: no ReplicaSet/Pod for Deployment x within 60 s" >&2; exit 1; }
  sleep 0.5
done
check "Deployment controller made $(kubectl get replicasets -l app=x -o name), ReplicaSet controller made $(kubectl get pods -l app=x -o name) ($(kubectl get pods -l app=x -o jsonpath='{.items[0].status.phase}'))"

[[ "$(kubectl auth can-i create deployments)" == yes ]]
if kubectl auth can-i create pods --as=system:serviceaccount:default:default >/dev/null; then
  echo "smoke: the default ServiceAccount may create pods: RBAC is not enforced" >&2; exit 1
fi
check "auth can-i: admin yes, system:serviceaccount:default:default no"

trap - EXIT
"$here/stop.sh" "$wd"
[[ ! -e "$wd" ]] || { echo "smoke: $wd still exists" >&2; exit 1; }
if left="$(pgrep -af -- "$wd")"; then echo "smoke: left running: $left" >&2; exit 1; fi
if left="$(pgrep -af kube-apiserver)"; then echo "smoke: kube-apiserver still running: $left" >&2; exit 1; fi
check "stopped: no process left, workdir removed"
echo "smoke: PASS"

#!/usr/bin/env bash
# Starts a real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager) on
# 127.0.0.1 with free ports chosen now, everything (certs, data, logs) under <workdir>.
# Usage: start.sh <workdir>      (workdir must not exist or be empty; stop.sh <workdir> undoes it)
# Binaries: $FLINK_LIFECYCLE_K8S_BIN if set, else the bin dir printed by build.sh (builds if cold).
# Writes: <workdir>/admin.kubeconfig, <workdir>/env (KEY=value lines, sourceable), <workdir>/pids
# (one process-group leader per line), <workdir>/logs/*.log. On failure it stops what it started,
# prints the log tails and keeps <workdir> for inspection (stop.sh still cleans it up).
set -Eeuo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
[[ $# -eq 1 ]] || { echo "usage: $0 <workdir>" >&2; exit 2; }
wd="$1"
if [[ -e "$wd" && -n "$(ls -A "$wd" 2>/dev/null)" ]]; then
  echo "start.sh: $wd exists and is not empty" >&2
  exit 2
fi
mkdir -p "$wd"
wd="$(cd "$wd" && pwd)"
touch "$wd/.flink-lifecycle-cluster" # stop.sh removes only a dir carrying this marker
: > "$wd/pids"
mkdir -p "$wd/logs" "$wd/pki"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.2f", b-a}'; }
log() { echo "start.sh: $*" >&2; }
t0="$(now)"

bin="${FLINK_LIFECYCLE_K8S_BIN:-}"
if [[ -z "$bin" ]]; then bin="$("$here/build.sh" | tail -n1)"; fi
for b in etcd kube-apiserver kube-controller-manager kubectl; do
  [[ -x "$bin/$b" ]] || { log "missing $bin/$b (run build.sh)"; exit 1; }
done

fail() {
  log "FAILED: $*"
  local f
  for f in "$wd"/logs/*.log; do
    [[ -f "$f" ]] || continue
    # openssl's log matters only when no process was started yet.
    [[ "$f" != */openssl.log || ! -s "$wd/pids" ]] || continue
    echo "----- last lines of $f" >&2
    tail -n 25 "$f" >&2
  done
  "$here/stop.sh" --keep "$wd" >&2 || true
  exit 1
}
trap 'fail "line $LINENO: exit $?"' ERR

# ---- free loopback ports, all held at once so they are distinct -------------------------------
read -r etcd_port peer_port api_port kcm_port < <(python3 - <<'EOF'
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
EOF
)
[[ -n "$kcm_port" ]] || fail "could not pick free ports with python3"

# ---- certificates (openssl) ---------------------------------------------------------------------
pki="$wd/pki"
ossl() { openssl "$@" >>"$wd/logs/openssl.log" 2>&1; }
ossl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -sha256 -days 3650 \
  -keyout "$pki/ca.key" -out "$pki/ca.crt" -subj "/CN=flink-lifecycle-test-ca"
ossl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -sha256 -days 3650 \
  -keyout "$pki/front-proxy-ca.key" -out "$pki/front-proxy-ca.crt" -subj "/CN=flink-lifecycle-test-front-proxy-ca"
# issue <name> <subject> <extendedKeyUsage> [subjectAltName] [ca]
issue() {
  local name="$1" subj="$2" eku="$3" san="${4:-}" ca="${5:-ca}"
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    [[ -z "$san" ]] || echo "subjectAltName=$san"
  } > "$pki/$name.ext"
  ossl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -keyout "$pki/$name.key" -out "$pki/$name.csr" -subj "$subj"
  ossl x509 -req -in "$pki/$name.csr" -CA "$pki/$ca.crt" -CAkey "$pki/$ca.key" -CAcreateserial \
    -sha256 -days 3650 -extfile "$pki/$name.ext" -out "$pki/$name.crt"
}
issue apiserver "/CN=kube-apiserver" serverAuth \
  "IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.96.0.1"
issue admin "/O=system:masters/CN=flink-lifecycle-admin" clientAuth
issue controller-manager "/CN=system:kube-controller-manager" clientAuth
# The aggregator's client identity towards aggregated API servers (front proxy); also fills the
# requestheader CA of kube-system/extension-apiserver-authentication that delegating servers read.
issue front-proxy-client "/CN=front-proxy-client" clientAuth "" front-proxy-ca
# Service-account token keys: the apiserver signs with sa.key, verifies with sa.pub; the
# controller-manager's token controller needs the private key too.
ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$pki/sa.key"
ossl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub"

api_url="https://127.0.0.1:$api_port"
kubeconfig() { # kubeconfig <file> <user> <cert> <key>
  cat > "$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: flink-lifecycle-test
  cluster:
    server: $api_url
    certificate-authority-data: $(base64 -w0 < "$pki/ca.crt")
users:
- name: $2
  user:
    client-certificate-data: $(base64 -w0 < "$3")
    client-key-data: $(base64 -w0 < "$4")
contexts:
- name: $2@flink-lifecycle-test
  context:
    cluster: flink-lifecycle-test
    user: $2
    namespace: default
current-context: $2@flink-lifecycle-test
EOF
  chmod 600 "$1"
}
kubeconfig "$wd/admin.kubeconfig" admin "$pki/admin.crt" "$pki/admin.key"
kubeconfig "$wd/controller-manager.kubeconfig" system:kube-controller-manager \
  "$pki/controller-manager.crt" "$pki/controller-manager.key"
t_certs="$(since "$t0")"

# ---- processes: each its own process group (setsid), pid recorded at once --------------------
launch() { # launch <name> <cmd...>
  local name="$1"; shift
  setsid "$@" </dev/null >"$wd/logs/$name.log" 2>&1 &
  echo "$!" >> "$wd/pids"
  eval "${name//-/_}_pid=$!"
}
alive() { kill -0 "$1" 2>/dev/null && [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]]; }
# wait_for <seconds> <what> <pid> <command...>: bounded poll, fails early if the process died.
wait_for() {
  local secs="$1" what="$2" pid="$3"; shift 3
  local deadline=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    alive "$pid" || fail "$what: process $pid exited"
    (( $(date +%s) < deadline )) || fail "$what: not within ${secs}s"
    sleep 0.2
  done
}

t1="$(now)"
launch etcd "$bin/etcd" \
  --name=flink-lifecycle \
  --data-dir="$wd/etcd-data" \
  --listen-client-urls="http://127.0.0.1:$etcd_port" \
  --advertise-client-urls="http://127.0.0.1:$etcd_port" \
  --listen-peer-urls="http://127.0.0.1:$peer_port" \
  --initial-advertise-peer-urls="http://127.0.0.1:$peer_port" \
  --initial-cluster="flink-lifecycle=http://127.0.0.1:$peer_port" \
  --initial-cluster-state=new \
  --unsafe-no-fsync=true
wait_for 30 "etcd /health" "$etcd_pid" curl -sf --max-time 2 "http://127.0.0.1:$etcd_port/health"
t_etcd="$(since "$t1")"

t2="$(now)"
launch kube-apiserver "$bin/kube-apiserver" \
  --etcd-servers="http://127.0.0.1:$etcd_port" \
  --bind-address=127.0.0.1 \
  --advertise-address=127.0.0.1 \
  --secure-port="$api_port" \
  --tls-cert-file="$pki/apiserver.crt" \
  --tls-private-key-file="$pki/apiserver.key" \
  --client-ca-file="$pki/ca.crt" \
  --authorization-mode=Node,RBAC \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$pki/sa.pub" \
  --service-account-signing-key-file="$pki/sa.key" \
  --service-cluster-ip-range=10.96.0.0/16 \
  --enable-aggregator-routing=true \
  --requestheader-client-ca-file="$pki/front-proxy-ca.crt" \
  --requestheader-allowed-names=front-proxy-client \
  --requestheader-username-headers=X-Remote-User \
  --requestheader-group-headers=X-Remote-Group \
  --requestheader-extra-headers-prefix=X-Remote-Extra- \
  --proxy-client-cert-file="$pki/front-proxy-client.crt" \
  --proxy-client-key-file="$pki/front-proxy-client.key" \
  --endpoint-reconciler-type=none \
  --allow-privileged=true \
  --cert-dir="$wd/apiserver-certs" \
  --v=1
curl_admin() {
  curl -sf --max-time 3 --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" "$@"
}
wait_for 90 "kube-apiserver /readyz" "$kube_apiserver_pid" curl_admin "$api_url/readyz"
t_api="$(since "$t2")"

t3="$(now)"
launch kube-controller-manager "$bin/kube-controller-manager" \
  --kubeconfig="$wd/controller-manager.kubeconfig" \
  --authentication-kubeconfig="$wd/controller-manager.kubeconfig" \
  --authorization-kubeconfig="$wd/controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 \
  --secure-port="$kcm_port" \
  --cert-dir="$wd/controller-manager-certs" \
  --flex-volume-plugin-dir="$wd/flexvolume" \
  --service-account-private-key-file="$pki/sa.key" \
  --root-ca-file="$pki/ca.crt" \
  --cluster-signing-cert-file="$pki/ca.crt" \
  --cluster-signing-key-file="$pki/ca.key" \
  --use-service-account-credentials=true \
  --leader-elect=false \
  --controllers='*' \
  --v=1
wait_for 60 "kube-controller-manager /healthz" "$kube_controller_manager_pid" \
  curl -sfk --max-time 3 "https://127.0.0.1:$kcm_port/healthz"
# The default ServiceAccount appears only when the controller-manager's serviceaccount controller
# works against this apiserver.
wait_for 60 "ServiceAccount default/default" "$kube_controller_manager_pid" \
  "$bin/kubectl" --kubeconfig "$wd/admin.kubeconfig" --request-timeout=3s -n default get serviceaccount default
t_kcm="$(since "$t3")"

{
  printf 'KUBECONFIG=%q\n' "$wd/admin.kubeconfig"
  printf 'APISERVER_URL=%q\n' "$api_url"
  printf 'ETCD_URL=%q\n' "http://127.0.0.1:$etcd_port"
  printf 'CA_CERT=%q\n' "$pki/ca.crt"
  printf 'CA_KEY=%q\n' "$pki/ca.key"
  printf 'K8S_BIN=%q\n' "$bin"
  printf 'ETCD_PID=%q\n' "$etcd_pid"
  printf 'KUBE_APISERVER_PID=%q\n' "$kube_apiserver_pid"
  printf 'KUBE_CONTROLLER_MANAGER_PID=%q\n' "$kube_controller_manager_pid"
  printf 'PIDS=%q\n' "$(tr '\n' ' ' < "$wd/pids" | sed 's/ $//')"
} > "$wd/env"
trap - ERR

log "control plane up at $api_url in $(since "$t0") s" \
  "(certs ${t_certs} s, etcd ${t_etcd} s, kube-apiserver ${t_api} s, controller-manager + default SA ${t_kcm} s)"
echo "KUBECONFIG=$wd/admin.kubeconfig"

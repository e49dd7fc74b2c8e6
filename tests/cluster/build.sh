#!/usr/bin/env bash
# Builds a real Kubernetes control plane (kube-apiserver, kube-controller-manager, kubectl and etcd)
# from the Go modules pinned in this directory's go.mod/go.sum, into a cache keyed by version:
#   ${FLINK_LIFECYCLE_K8S_CACHE:-$HOME/.cache/flink-lifecycle/k8s}/<K8S_VERSION>/bin/
# Idempotent: when the binaries were built from the same go.mod/go.sum/sources it only prints the
# bin dir. The last line of stdout is always the bin dir.
# Env: FLINK_LIFECYCLE_ETCD=go (default: etcd built from go.etcd.io/etcd/server/v3 at the version
#      k8s.io/kubernetes pins, 3.7.0 for 1.37.2) or =debian (Debian's etcd-server via apt-get,
#      linked into bin/; bookworm has 3.4.23, older than Kubernetes 1.37 expects: see README.md).
#      BUILD_NICE (default 10; 19 with --background): niceness of the Go build.
# --background: on a cold cache, start the build detached (log in the cache dir) and return at
#      once; a later build.sh (the real-cluster tests run one) waits for it on the cache's lock.
#      At niceness 19 it takes the CPU the tests leave idle: `make test` starts it first, so on a
#      fresh machine the cold build overlaps the lint, the Rust build and the tests before the
#      real-cluster tier, instead of preceding them.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
ver="$(cat "$here/K8S_VERSION")"
cache_root="${FLINK_LIFECYCLE_K8S_CACHE:-$HOME/.cache/flink-lifecycle/k8s}"
cache="$cache_root/$ver"
bin="$cache/bin"
etcd_source="${FLINK_LIFECYCLE_ETCD:-go}"
nice_level="${BUILD_NICE:-10}"
mkdir -p "$cache"

log() { echo "build.sh: $*" >&2; }

# The key of a build: everything that decides what the binaries are.
key="$(cat "$here/go.mod" "$here/go.sum" "$here/cmd/etcd/main.go" "$here/K8S_VERSION" \
  <(echo "etcd=$etcd_source") <(sed -n '/^# BUILD-RECIPE-BEGIN/,/^# BUILD-RECIPE-END/p' "$0") \
  | sha256sum | cut -d' ' -f1)"
wanted=(kube-apiserver kube-controller-manager kubectl etcd)

is_warm() {
  [[ -f "$bin/.build-key" && "$(cat "$bin/.build-key")" == "$key" ]] || return 1
  local b
  for b in "${wanted[@]}"; do [[ -x "$bin/$b" ]] || return 1; done
}

if is_warm; then
  log "warm: $ver binaries already built (key ${key:0:12})"
  echo "$bin"
  exit 0
fi

if [[ "${1:-}" == "--background" ]]; then
  if ! flock -n "$cache/.lock" true; then
    log "a build of $ver is already running; callers wait for it"
    echo "$bin"
    exit 0
  fi
  BUILD_NICE="${BUILD_NICE:-19}" setsid "$0" >"$cache/build.log" 2>&1 </dev/null &
  # Return once the build holds the lock, so that any build.sh after this one waits for it.
  for _ in $(seq 1 100); do
    flock -n "$cache/.lock" true || break
    is_warm && break
    sleep 0.1
  done
  log "building $ver in the background (niceness ${BUILD_NICE:-19}, log $cache/build.log)"
  echo "$bin"
  exit 0
fi

# One build at a time per cache dir (bounded wait).
exec 9>"$cache/.lock"
flock -n 9 || log "waiting for the build that holds $cache/.lock (its log: $cache/build.log)"
if ! flock -w 3600 9; then
  log "another build holds $cache/.lock for over an hour; giving up"
  exit 1
fi
if is_warm; then echo "$bin"; exit 0; fi

command -v go >/dev/null || { log "go is not installed"; exit 1; }
tmp="$cache/bin.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT

# BUILD-RECIPE-BEGIN
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"
kver="${ver#v}"
major="${kver%%.*}"
minor="${kver#*.}"; minor="${minor%%.*}"
vpkg=k8s.io/component-base/version
ldflags="-s -w -X $vpkg.gitVersion=$ver -X $vpkg.gitMajor=$major -X $vpkg.gitMinor=$minor"
ldflags+=" -X $vpkg.gitTreeState=clean -X $vpkg.buildDate=1970-01-01T00:00:00Z"
pkgs=(k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager
  k8s.io/kubernetes/cmd/kubectl)
[[ "$etcd_source" == go ]] && pkgs+=(./cmd/etcd)
# BUILD-RECIPE-END

start=$(date +%s)
log "building ${pkgs[*]} ($ver, etcd from $etcd_source) into $bin; this takes many minutes on a cold cache"
(cd "$here" && nice -n "$nice_level" go build -trimpath -ldflags="$ldflags" -o "$tmp/" "${pkgs[@]}")

if [[ "$etcd_source" == debian ]]; then
  if [[ ! -x /usr/bin/etcd ]]; then
    sudo=()
    [[ "$(id -u)" == 0 ]] || sudo=(sudo)
    # Its postinst tries to start etcd.service; this machine's policy-rc.d denies that (checked on
    # the polyglot machine), and start.sh never uses a system etcd anyway.
    log "installing Debian etcd-server"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends etcd-server
  fi
  ln -sf /usr/bin/etcd "$tmp/etcd"
elif [[ "$etcd_source" != go ]]; then
  log "FLINK_LIFECYCLE_ETCD must be go or debian, not '$etcd_source'"
  exit 1
fi

echo "$key" > "$tmp/.build-key"
rm -rf "$bin"
mv "$tmp" "$bin"
trap - EXIT
log "built in $(( $(date +%s) - start )) s: $(ls "$bin" | tr '\n' ' ')"
echo "$bin"

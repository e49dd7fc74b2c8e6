#!/usr/bin/env bash
# Installs Apache Flink VERSION from PyPI into CACHE_DIR/flink-VERSION (once) and prints that path.
#
#   tests/flink-harness/install-flink.sh VERSION [CACHE_DIR]
#
# CACHE_DIR defaults to $FLINK_LIFECYCLE_CACHE, else <repo>/.flink-cache. PyPI splits a Flink
# distribution in two: apache-flink-libraries (lib/ opt/ plugins/ jars) and apache-flink (bin/ conf/
# scripts). Both are downloaded without dependencies and unpacked into the standard layout, so the
# stock bin/*.sh scripts run from it. Safe to run concurrently: one flock per version serialises
# installers, and the tree is moved into place only when complete.
set -euo pipefail

version="${1:?usage: install-flink.sh VERSION [CACHE_DIR]}"
here="$(cd "$(dirname "$0")" && pwd -P)"
cache="${2:-${FLINK_LIFECYCLE_CACHE:-$here/../../.flink-cache}}"
mkdir -p "$cache"
cache="$(cd "$cache" && pwd -P)"
home="$cache/flink-$version"
pip="${PIP:-python3 -m pip}"

log() { echo "[install-flink] $*" >&2; }
installed() { [ -x "$home/bin/jobmanager.sh" ] && [ -f "$home/lib/flink-dist-$version.jar" ]; }

if installed; then echo "$home"; exit 0; fi

exec 9>"$cache/.install-$version.lock"
flock 9
if installed; then echo "$home"; exit 0; fi   # another installer finished while we waited

download="$cache/.download-$version"
partial="$home.partial"
rm -rf "$download" "$partial"
mkdir -p "$download" "$partial"
log "downloading apache-flink-libraries==$version and apache-flink==$version from PyPI into $download"
# 1.20.x libraries exist only as an sdist; pip runs its trivial setup.py for metadata and builds nothing.
TMPDIR="$download" $pip download --quiet --no-deps --dest "$download" "apache-flink-libraries==$version"
# The scripts wheel is CPython-specific; pin tags because it is only unzipped, never imported.
TMPDIR="$download" $pip download --quiet --no-deps --only-binary=:all: --platform manylinux2014_x86_64 \
    --python-version 3.11 --implementation cp --abi cp311 --dest "$download" "apache-flink==$version"
python3 "$here/unpack_flink.py" "$download" "$partial"
installed_partial() { [ -x "$partial/bin/jobmanager.sh" ] && [ -f "$partial/lib/flink-dist-$version.jar" ]; }
installed_partial || { log "unpacked tree is incomplete: no bin/jobmanager.sh or lib/flink-dist-$version.jar"; exit 1; }
mkdir -p "$partial/log"
rm -rf "$home"
mv "$partial" "$home"
rm -rf "$download"
log "installed Flink $version at $home"
echo "$home"

#!/usr/bin/env bash
# Stops what start.sh <workdir> started and removes <workdir>.
# Usage: stop.sh [--keep] <workdir>   (--keep: stop the processes but keep the workdir)
# Each pid in <workdir>/pids leads its own process group: the group gets SIGTERM, then SIGKILL
# after 15 s. A pid is signalled only while its command line still names <workdir> (no reused pid).
set -euo pipefail

keep=0
if [[ "${1:-}" == --keep ]]; then keep=1; shift; fi
[[ $# -eq 1 ]] || { echo "usage: $0 [--keep] <workdir>" >&2; exit 2; }
[[ -d "$1" ]] || { echo "stop.sh: $1: no such directory (already stopped?)" >&2; exit 0; }
wd="$(cd "$1" && pwd)"
[[ -f "$wd/.flink-lifecycle-cluster" ]] || { echo "stop.sh: $wd was not made by start.sh" >&2; exit 2; }

ours() { # ours <pid>: alive (not a zombie) and started by start.sh for this workdir
  local pid="$1"
  [[ -r "/proc/$pid/stat" ]] || return 1
  [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]] || return 1
  { tr '\0' ' ' < "/proc/$pid/cmdline"; } 2>/dev/null | grep -qF -- "$wd"
}

pids=()
if [[ -f "$wd/pids" ]]; then
  # Reverse start order: controller-manager, apiserver, then etcd.
  mapfile -t pids < <(tac "$wd/pids" | grep -E '^[0-9]+$' || true)
fi
for pid in "${pids[@]}"; do
  if ours "$pid"; then kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; fi
done
deadline=$(( $(date +%s) + 15 ))
left=("${pids[@]}")
while (( ${#left[@]} > 0 )); do
  still=()
  for pid in "${left[@]}"; do ours "$pid" && still+=("$pid"); done
  left=("${still[@]+"${still[@]}"}")
  (( ${#left[@]} > 0 )) || break
  if (( $(date +%s) >= deadline )); then
    for pid in "${left[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; done
    sleep 1
    for pid in "${left[@]}"; do
      if ours "$pid"; then echo "stop.sh: pid $pid survived SIGKILL" >&2; exit 1; fi
    done
    break
  fi
  sleep 0.2
done
# Killed processes were reparented when start.sh exited; wait (bounded) until their parent has
# reaped them, so that a following `pgrep` sees nothing.
deadline=$(( $(date +%s) + 10 ))
for pid in "${pids[@]}"; do
  while [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" == Z ]] && (( $(date +%s) < deadline )); do
    sleep 0.2
  done
done

if (( keep == 0 )); then rm -rf -- "$wd"; fi
echo "stop.sh: stopped ${#pids[@]} process group(s)$( ((keep)) || echo ", removed $wd")" >&2

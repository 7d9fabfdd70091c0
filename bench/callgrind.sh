#!/usr/bin/env bash
# Instructions per call, counted by callgrind, for one side of a system:
# what a hot-path change is judged by before and after (instruction counts do
# not drift with the machine's load the way timings do).
#
#   bench/callgrind.sh [SYSTEM] [WORKLOAD] [SIDE]
#
# SYSTEM is a dotrpc-bench system (default dotrpc), WORKLOAD is lat or notify
# (default lat), SIDE is server or client (default server). The measured side
# runs under callgrind and the other side natively (the raw baseline's client
# when measuring a server, so only the measured side is the system's). The
# workload runs twice, quick and full; the difference of the two totals over
# the difference of their calls removes start-up and shutdown, leaving the
# cost of one call.
set -euo pipefail
cd "$(dirname "$0")/.."

system=${1:-dotrpc}
workload=${2:-lat}
side=${3:-server}
bin=target/release/dotrpc-bench
[[ -x $bin ]] || cargo build --release -p dotrpc-bench >&2

case $workload in
  lat) quick=3500 full=22000 ;;      # warm-up + measured calls, as bench/src/workload.rs plans them
  notify) quick=20000 full=200000 ;; # notes, plus a handful of count() calls
  *) echo "workload must be lat or notify" >&2; exit 2 ;;
esac

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# Runs the workload once in MODE (quick or full); prints the measured side's
# total instruction count.
run() {
  local mode=$1 out=$dir/$1
  if [[ $side == server ]]; then
    coproc SERVER { exec valgrind --tool=callgrind --callgrind-out-file="$out.cg" "$bin" serve "$system" 2>"$out.log"; }
    local port=""
    read -r line <&"${SERVER[0]}"
    port=${line#LISTENING }
    local client_args=(client raw "$workload" "$port")
    [[ $mode == quick ]] && client_args+=(quick)
    "$bin" "${client_args[@]}" >/dev/null
    exec {SERVER[1]}>&-
    wait "$SERVER_PID" || true
  else
    coproc SERVER { exec "$bin" serve "$system"; }
    read -r line <&"${SERVER[0]}"
    local port=${line#LISTENING }
    local client_args=(client "$system" "$workload" "$port")
    [[ $mode == quick ]] && client_args+=(quick)
    valgrind --tool=callgrind --callgrind-out-file="$out.cg" "$bin" "${client_args[@]}" >/dev/null 2>"$out.log"
    exec {SERVER[1]}>&-
    wait "$SERVER_PID" || true
  fi
  grep -E '^summary:|^totals:' "$out.cg" | head -n 1 | awk '{print $2}'
}

quick_ir=$(run quick)
full_ir=$(run full)
per_call=$(( (full_ir - quick_ir) / (full - quick) ))
echo "$system $workload $side: $per_call instructions per call ($full_ir - $quick_ir over $((full - quick)) calls)"

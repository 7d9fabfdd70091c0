#!/usr/bin/env bash
# Instructions per call, counted by callgrind, for one side of a system:
# what a hot-path change is judged by before and after (instruction counts do
# not drift with the machine's load the way timings do).
#
#   bench/callgrind.sh [SYSTEM] [WORKLOAD] [SIDE]
#
# SYSTEM is a dotrpc-bench system (default dotrpc), WORKLOAD one of lat,
# notify, notify_await, pipe, conns (default lat), SIDE server or client
# (default server).
# The measured side runs under callgrind, the other natively: the raw
# baseline's client when measuring a server, so that only the measured side
# is the system's. The workload runs twice, quick and full; the difference of
# the two totals over the difference of their calls (as the client reports
# them) removes start-up and shutdown, leaving the cost of one call.
set -euo pipefail
cd "$(dirname "$0")/.."

system=${1:-dotrpc}
workload=${2:-lat}
side=${3:-server}
bin=target/release/dotrpc-bench
[[ -x $bin ]] || cargo build --release -p dotrpc-bench >&2

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# Runs the workload once in MODE (quick or full); prints the measured side's
# total instruction count and the calls the client made.
run() {
  local mode=$1 out=$dir/$1 port line
  local quick=()
  [[ $mode == quick ]] && quick=(quick)
  if [[ $side == server ]]; then
    coproc SERVER { exec valgrind --tool=callgrind --callgrind-out-file="$out.cg" "$bin" serve "$system" 2>"$out.log"; }
    read -r line <&"${SERVER[0]}"
    port=${line#LISTENING }
    "$bin" client raw "$workload" "$port" "${quick[@]}" >"$out.json"
  else
    coproc SERVER { exec "$bin" serve "$system"; }
    read -r line <&"${SERVER[0]}"
    port=${line#LISTENING }
    valgrind --tool=callgrind --callgrind-out-file="$out.cg" \
      "$bin" client "$system" "$workload" "$port" "${quick[@]}" >"$out.json" 2>"$out.log"
  fi
  exec {SERVER[1]}>&-
  wait "$SERVER_PID" || true
  local total calls
  total=$(grep -E '^(summary|totals):' "$out.cg" | head -n 1 | awk '{print $2}')
  calls=$(grep -o '"calls":[0-9]*' "$out.json" | cut -d: -f2)
  # The lat workload's warm-up calls are not in its report.
  if [[ $workload == lat && $mode == quick ]]; then
    calls=$((calls + 500))
  elif [[ $workload == lat ]]; then
    calls=$((calls + 2000))
  fi
  echo "$total $calls"
}

read -r quick_ir quick_calls < <(run quick)
read -r full_ir full_calls < <(run full)
per_call=$(( (full_ir - quick_ir) / (full_calls - quick_calls) ))
echo "$system $workload $side: $per_call instructions per call ($full_ir - $quick_ir over $((full_calls - quick_calls)) calls)"

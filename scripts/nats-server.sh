#!/usr/bin/env bash
# Makes sure nats-server is installed (Debian's package `nats-server`) and
# prints its path; the NATS tests, example and benchmark call it. Installing
# needs root or sudo. Safe to run concurrently and repeatedly.
#
#   scripts/nats-server.sh              install if missing; print the path
#   scripts/nats-server.sh start DIR    start one on a free 127.0.0.1 port;
#                                       print its URL (pid in DIR/nats.pid)
#   scripts/nats-server.sh stop DIR     stop the one started in DIR
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

install() {
  "$root/scripts/debian-package.sh" nats-server nats-server
}

case "${1:-}" in
  "") install ;;
  start)
    dir="${2:?usage: nats-server.sh start DIR}"
    server=$(install)
    mkdir -p "$dir"
    rm -f "$dir"/nats-server_*.ports
    # Port -1: a free one, written to a ports file in DIR.
    "$server" -a 127.0.0.1 -p -1 --ports_file_dir "$dir" >"$dir/nats.log" 2>&1 &
    echo $! >"$dir/nats.pid"
    for _ in $(seq 100); do
      ports=$(ls "$dir"/nats-server_*.ports 2>/dev/null || true)
      if [ -n "$ports" ] && grep -q nats: "$ports"; then
        grep -o 'nats://[0-9.:]*' "$ports" | head -n 1
        exit 0
      fi
      sleep 0.1
    done
    echo "nats-server did not start; its log:" >&2
    cat "$dir/nats.log" >&2
    exit 1
    ;;
  stop)
    dir="${2:?usage: nats-server.sh stop DIR}"
    if [ -f "$dir/nats.pid" ]; then
      kill "$(cat "$dir/nats.pid")" 2>/dev/null || true
      rm -f "$dir/nats.pid"
    fi
    ;;
  *) echo "usage: nats-server.sh [start DIR | stop DIR]" >&2; exit 2 ;;
esac

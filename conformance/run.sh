#!/usr/bin/env bash
# Runs the conformance suite against a server: the project's pinned Python
# environment (scripts/python-env.sh), then conformance/run.py ADDR.
#
#   conformance/run.sh tcp://127.0.0.1:4000
#   conformance/run.sh ws://127.0.0.1:4001/
#   conformance/run.sh nats://127.0.0.1:4222/demo
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python=$("$root/scripts/python-env.sh")
exec "$python" "$root/conformance/run.py" "$@"

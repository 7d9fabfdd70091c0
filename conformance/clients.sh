#!/usr/bin/env bash
# Runs the client side of the conformance suite against a client's driver:
# the project's pinned Python environment (scripts/python-env.sh), then
# conformance/clients.py DRIVER...
#
#   conformance/clients.sh target/debug/dotrpc-conformance-client
#   conformance/clients.sh node conformance/drivers/typescript.mjs
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python=$("$root/scripts/python-env.sh")
exec "$python" "$root/conformance/clients.py" "$@"

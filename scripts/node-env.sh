#!/usr/bin/env bash
# Installs (once) the Node packages the interop tests use, pinned by
# tests/interop/node/package-lock.json, and prints the node_modules folder to
# put on NODE_PATH. Safe to run concurrently and repeatedly; re-installs only
# when the lock file changes.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
env_dir="${DOTRPC_NODE_ENV:-$root/target/node-env}"
lock="$root/tests/interop/node/package-lock.json"
command -v npm >/dev/null || { echo "node-env: npm is not installed" >&2; exit 1; }
mkdir -p "$env_dir"
exec 9>"$env_dir.lock"
flock 9
if [ ! -d "$env_dir/node_modules/msgpack5rpc" ] || ! cmp -s "$lock" "$env_dir/package-lock.json"; then
  cp "$root/tests/interop/node/package.json" "$lock" "$env_dir/"
  (cd "$env_dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
echo "$env_dir/node_modules"

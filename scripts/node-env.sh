#!/usr/bin/env bash
# Installs (once) the Node packages a test folder names in its package.json,
# pinned by its package-lock.json, and prints the node_modules folder to put
# on NODE_PATH. FOLDER is relative to the repository: tests/interop/node (the
# default; the interop tests' msgpack-rpc library) or tests/browser (the
# browser test's driver). Safe to run concurrently and repeatedly;
# re-installs only when the lock file changes.
#
# usage: scripts/node-env.sh [FOLDER]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
folder="$root/${1:-tests/interop/node}"
env_dir="${DOTRPC_NODE_ENV:-$root/target/node-env}/$(basename "$folder")"
lock="$folder/package-lock.json"
command -v npm >/dev/null || { echo "node-env: npm is not installed" >&2; exit 1; }
[ -f "$lock" ] || { echo "node-env: no $lock" >&2; exit 1; }
mkdir -p "$env_dir"
exec 9>"$env_dir.lock"
flock 9
if ! cmp -s "$lock" "$env_dir/.installed-lock.json"; then
  cp "$folder/package.json" "$lock" "$env_dir/"
  (cd "$env_dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
  cp "$lock" "$env_dir/.installed-lock.json"
fi
echo "$env_dir/node_modules"

#!/usr/bin/env bash
# Builds the TypeScript client (clients/typescript) with its own compiler:
# installs its packages once, pinned by its package-lock.json (again only
# when the lock file changes), then runs tsc into clients/typescript/dist.
# Prints the client's folder. Safe to run concurrently and repeatedly.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
client="$root/clients/typescript"
command -v npm >/dev/null || { echo "typescript: npm is not installed" >&2; exit 1; }
mkdir -p "$root/target"
exec 9>"$root/target/typescript-build.lock"
flock 9
stamp="$client/node_modules/.dotrpc-installed-lock.json"
if ! cmp -s "$client/package-lock.json" "$stamp"; then
  (cd "$client" && npm ci --no-audit --no-fund --loglevel=error >&2)
  cp "$client/package-lock.json" "$stamp"
fi
(cd "$client" && node_modules/.bin/tsc -p . >&2)
echo "$client"

#!/usr/bin/env bash
# Creates (once) the Python environment the interop tests use, with pinned
# packages from tests/interop/requirements.txt, and prints its python path.
# Safe to run concurrently and repeatedly; re-installs only when the
# requirements change.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
env_dir="${DOTRPC_PYTHON_ENV:-$root/target/python-env}"
requirements="$root/tests/interop/requirements.txt"
mkdir -p "$(dirname "$env_dir")"
exec 9>"$env_dir.lock"
flock 9
stamp="$env_dir/.requirements"
if [ ! -x "$env_dir/bin/python" ] || ! cmp -s "$requirements" "$stamp"; then
  python3 -m venv "$env_dir" >&2
  "$env_dir/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2
  cp "$requirements" "$stamp"
fi
echo "$env_dir/bin/python"

#!/usr/bin/env bash
# Makes sure Neovim is installed (Debian's package `neovim`) and prints the
# path of `nvim`. The Neovim example and tests call it; installing needs root
# or sudo. Safe to run concurrently and repeatedly.
set -euo pipefail
if path=$(command -v nvim); then
  echo "$path"
  exit 0
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$root/target"
exec 9>"$root/target/neovim-install.lock"
flock 9
if ! command -v nvim >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
  export DEBIAN_FRONTEND=noninteractive
  if ! $sudo apt-get install -y --no-install-recommends neovim >&2; then
    $sudo apt-get update >&2
    $sudo apt-get install -y --no-install-recommends neovim >&2
  fi
fi
command -v nvim

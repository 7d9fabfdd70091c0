#!/usr/bin/env bash
# Makes sure COMMAND is installed, from Debian's package PACKAGE (the
# distribution's build, so its version is the release's), and prints its
# path. Installing needs root or sudo; the package lists are refreshed only
# if the first attempt fails. Safe to run concurrently and repeatedly.
#
# usage: scripts/debian-package.sh COMMAND PACKAGE
set -euo pipefail
command="${1:?usage: debian-package.sh COMMAND PACKAGE}"
package="${2:?usage: debian-package.sh COMMAND PACKAGE}"
if path=$(command -v "$command"); then
  echo "$path"
  exit 0
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$root/target"
exec 9>"$root/target/$package-install.lock"
flock 9
if ! command -v "$command" >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
  export DEBIAN_FRONTEND=noninteractive
  if ! $sudo apt-get install -y --no-install-recommends "$package" >&2; then
    $sudo apt-get update >&2
    $sudo apt-get install -y --no-install-recommends "$package" >&2
  fi
fi
command -v "$command"

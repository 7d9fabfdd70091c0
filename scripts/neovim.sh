#!/usr/bin/env bash
# Makes sure Neovim is installed (Debian's package `neovim`) and prints the
# path of `nvim`. The Neovim example and tests call it; installing needs root
# or sudo. Safe to run concurrently and repeatedly.
exec "$(dirname "${BASH_SOURCE[0]}")/debian-package.sh" nvim neovim

#!/usr/bin/env bash
# Makes sure Chromium is installed (Debian's package `chromium`) and prints
# the path of its binary. The browser test drives it headless; installing
# needs root or sudo. Safe to run concurrently and repeatedly.
exec "$(dirname "${BASH_SOURCE[0]}")/debian-package.sh" chromium chromium

#!/usr/bin/env bash
# Makes sure Debian's headless-capable Chromium is installed (/usr/bin/chromium), installing the `chromium`
# package with apt when it is missing. Idempotent; prints the version. Used by suites that render pages
# (scripts/test.sh runs it before any suite marked <StackscopeNeedsChromium>true</StackscopeNeedsChromium>).
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq >/dev/null
  $sudo_cmd apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi
chromium --version

#!/usr/bin/env bash
# run.sh — install what the web client's end-to-end tests need, then run them.
#
#   web/test/run.sh                       # against the mock server (default)
#   AMBIENTD_CMD='…' AMBIENTD_GET='…' web/test/run.sh   # against the real daemon (see harness.mjs)
#
# Installs Debian's chromium when /usr/bin/chromium (or $CHROMIUM_PATH) is missing and the npm
# dev-dependencies (playwright-core, ws) from package-lock.json when node_modules lacks them.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v node >/dev/null 2>&1; then
  echo "run.sh: node is missing (the web tests need Node.js >= 18)" >&2
  exit 1
fi

chromium_bin="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ ! -x "$chromium_bin" ]; then
  echo "run.sh: installing Debian's chromium" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

if [ ! -f node_modules/playwright-core/package.json ] || [ ! -f node_modules/ws/package.json ]; then
  echo "run.sh: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi

# One file at a time: the tests start servers and Chromium, and the machine has 2 cores.
exec node --test --test-concurrency=1 "$@" ./*.test.mjs

#!/usr/bin/env bash
# Web console end-to-end tests in headless Chromium. `.ci/run` runs it.
#   tests/e2e/run.sh [path/to/sealtrail]
# Installs what it needs: Debian's chromium (apt) and playwright-core (npm,
# pinned by package-lock.json; it drives the system browser, downloads none).
# SEALTRAIL_SCREENSHOTS=docs also refreshes the screenshots in docs/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export SEALTRAIL_BIN="$(realpath "${1:-${CARGO_TARGET_DIR:-$HOME/.cache/sealtrail-target}/debug/sealtrail}")"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v node >/dev/null || need+=(nodejs npm)
if [ "${#need[@]}" -gt 0 ]; then
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
cd "$here"
[ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund --silent
if [ -n "${SEALTRAIL_SCREENSHOTS:-}" ]; then
  export SEALTRAIL_SCREENSHOTS="$(realpath "$here/../../$SEALTRAIL_SCREENSHOTS")"
fi
export CHROMIUM="${CHROMIUM:-$(command -v chromium)}"
node --test --test-concurrency=1 console.test.mjs

#!/usr/bin/env bash
# Runs the vitest suites a second time with every process's clock at 16:30 UTC today (libfaketime), the minute after
# the void window of the day's charges closes: a test that reads the real clock instead of an injected one fails here.
#   scripts/test-at-1630.sh [vitest args…]     e.g. scripts/test-at-1630.sh src/relay
# QRPOS_FAKE_TIME="YYYY-MM-DD HH:MM:SS" picks another instant.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v faketime >/dev/null 2>&1; then
  echo "test-at-1630.sh: faketime is not installed (Debian package 'faketime'; scripts/bootstrap.sh --test installs it)" >&2
  exit 1
fi
at="${QRPOS_FAKE_TIME:-$(date -u +%F) 16:30:00}"
echo "[test-at-1630] vitest with the clock at $at UTC"
# Only wall-clock time moves; monotonic clocks stay real so timers and timeouts behave.
export FAKETIME_DONT_FAKE_MONOTONIC=1 TZ=UTC
exec faketime -f "@$at" npx vitest run "$@"

#!/usr/bin/env bash
# CI step: a linux-arm64 release bundle built on this amd64 machine and shown to run on arm64.
#   1. the cross root and arm64 node_modules (scripts/release/cross.sh; kept between runs in
#      /var/tmp/qrpos-cross-arm64, rebuilt only when package-lock.json changes);
#   2. `npm run release -- --arch arm64` into $OUT (default: a temporary folder);
#   3. `npm run release -- check-emulated`: every .node an arm64 ELF that loads in Debian 13's
#      arm64 Node.js under qemu-user, the release's self-test, one sale to PAID;
#   4. with --test: also the vitest test of the same (src/release/emulated.test.ts, with its
#      controls: an x64 binary and the x64 bundle must fail the check).
# Prints each step's time and the bundle sizes (arm64, and x64 when one is in $OUT).
#
#   sudo scripts/release/arm64.sh [--out DIR] [--test] [--throwaway-key]
# --throwaway-key signs with a key pair made for this run (CI has no release key) and checks
# against its public half, so the step tests the build and not the key.
# Needs root (cross.sh), the built dist/ (npm run build), the Debian archive and npm registry
# the first time. The signing key: $QRPOS_RELEASE_KEY, else ~/.config/qrpos/release-key.pem.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
OUT="" TEST=0 THROWAWAY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) [ $# -ge 2 ] || { echo "arm64.sh: --out needs a directory" >&2; exit 2; }; OUT=$2; shift ;;
    --test) TEST=1 ;;
    --throwaway-key) THROWAWAY=1 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "arm64.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
cd "$REPO"
if [ -z "$OUT" ]; then OUT=$(mktemp -d /tmp/qrpos-arm64.XXXXXX); trap 'rm -rf "$OUT"' EXIT; fi
mkdir -p "$OUT"
SECONDS=0
T=$SECONDS
step() { printf '[arm64 %4ds] %s took %d s\n' "$SECONDS" "$1" "$((SECONDS - T))"; T=$SECONDS; }

KEYS=()
CHECK_KEYS=()
if [ "$THROWAWAY" = 1 ]; then
  node scripts/ci/throwaway-keys.cjs "$OUT" throwaway
  KEYS=(--key "$OUT/throwaway.pem" --public-key "$OUT/throwaway.pub")
  CHECK_KEYS=(--key "$OUT/throwaway.pub")
fi
scripts/release/cross.sh --arch arm64 >/dev/null
step "cross root and arm64 node_modules"
npm run -s release -- --arch arm64 --out "$OUT" --dist "$REPO/dist" "${KEYS[@]}" | tee "$OUT/release.txt"
step "npm run release -- --arch arm64"
bundle=$(sed -n 's/^built //p' "$OUT/release.txt")
npm run -s release -- check-emulated "$bundle" "${CHECK_KEYS[@]}"
step "check-emulated (native modules, self-test, one sale under qemu-aarch64)"
if [ "$TEST" = 1 ]; then
  QRPOS_EMULATED_TEST=1 npx vitest run src/release/emulated.test.ts
  step "vitest src/release/emulated.test.ts"
fi
for f in "$OUT"/qrpos-*-linux-*.tar.gz; do printf '  %s: %s bytes\n' "$(basename "$f")" "$(stat -c %s "$f")"; done
echo "arm64.sh: all steps passed in $SECONDS s"

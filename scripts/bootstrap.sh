#!/usr/bin/env bash
# Development set-up on Debian 12/13 / Raspberry Pi OS Bookworm/Trixie: system packages, npm ci, build.
#   scripts/bootstrap.sh           what running qrpos needs (native builds, fonts)
#   scripts/bootstrap.sh --test    plus what the tests need (socat, zbar, chromium, qemu, faketime, postgresql)
# Idempotent: installs only what is missing. Needs root (or sudo) only when a package is missing.
# (The on-device installer is scripts/setup.sh.)
set -euo pipefail
cd "$(dirname "$0")/.."

WANT_TEST=0 PRINT=0
for a in "$@"; do
  case "$a" in
    --test) WANT_TEST=1 ;;
    --print-packages) PRINT=1 ;;  # list the Debian packages it would check for, and stop
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "bootstrap.sh: unknown flag $a" >&2; exit 2 ;;
  esac
done

say() { printf '[bootstrap] %s\n' "$*"; }

node_help() {
  cat >&2 <<'EOF'
  Debian 13 / Raspberry Pi OS Trixie: sudo apt-get install nodejs npm   (Debian's Node.js 20)
  Debian 12 / Raspberry Pi OS Bookworm: Debian's own nodejs is 18, too old: install Node.js 20
  or newer from NodeSource (https://github.com/nodesource/distributions; its nodejs includes npm).
EOF
}
check_node() {
if ! command -v node >/dev/null 2>&1; then
  echo "bootstrap.sh: Node.js is not installed. qrpos needs Node.js >= 20 and npm." >&2
  node_help; exit 1
fi
NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]')
if [ "$NODE_MAJOR" -lt 20 ]; then
  echo "bootstrap.sh: Node.js $(node -v) is too old; qrpos needs >= 20." >&2
  node_help; exit 1
fi
# Debian's own nodejs comes without npm (a package of its own); NodeSource's includes it.
if ! command -v npm >/dev/null 2>&1; then
  echo "bootstrap.sh: npm is not installed (Node.js $(node -v) is)." >&2
  if dpkg-query -S "$(readlink -f "$(command -v node)")" 2>/dev/null | grep -q '^nodejs:'; then
    echo "  Debian's nodejs ships npm separately: sudo apt-get install npm" >&2
  else
    node_help
  fi
  exit 1
fi
}

PKGS=(build-essential python3 pkg-config libcairo2-dev libpango1.0-dev libjpeg-dev libgif-dev librsvg2-dev
      libudev-dev libusb-1.0-0-dev fonts-noto-core fonts-noto-cjk)
if [ "$WANT_TEST" = 1 ]; then
  # systemd: systemd-analyze verify and systemd-notify in the tests; passwd: useradd --prefix in the installer test
  PKGS+=(socat zbar-tools chromium "qemu-system-$([ "$(dpkg --print-architecture)" = arm64 ] && echo arm || echo x86)" binutils fonts-dejavu-core qemu-utils busybox-static cpio kmod xz-utils python3 systemd passwd)
  # file: the device test checks busybox is static; faketime: the suite's second run at a fixed time of day
  PKGS+=(file faketime)
  # postgresql: the relay's PostgreSQL store is tested against a throwaway cluster (initdb, pg_ctl)
  PKGS+=(postgresql)
fi
if [ "$PRINT" = 1 ]; then printf '%s\n' "${PKGS[@]}"; exit 0; fi
check_node
MISSING=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || MISSING+=("$p")
done
if [ "${#MISSING[@]}" -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "bootstrap.sh: missing Debian packages: ${MISSING[*]}; install them as root (apt-get install ...) or install sudo" >&2; exit 1; }
    SUDO="sudo"
  fi
  say "installing Debian packages: ${MISSING[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${MISSING[@]}" >/dev/null
fi

# node-gyp builds offline against the Node headers the distribution ships.
if [ -f /usr/include/node/node_version.h ] && [ -z "${npm_config_nodedir:-}" ]; then
  export npm_config_nodedir=/usr
fi

STAMP=node_modules/.qrpos-lock-hash
HASH=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$HASH" ]; then
  say "npm ci"
  npm ci --no-audit --no-fund
  echo "$HASH" > "$STAMP"
fi
say "building"
npm run -s build
say "ready: npx qrpos --help"

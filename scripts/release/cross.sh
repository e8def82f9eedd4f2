#!/usr/bin/env bash
# Production node_modules for another architecture, built on this amd64 machine without
# changing it: in a Debian 13 (trixie) amd64 root with Debian's multiarch cross toolchain
# (crossbuild-essential-<arch>) and the <arch> -dev libraries the native modules link to. That
# root also holds what runs them for a check: Debian's nodejs for <arch> and a static qemu-user.
# `npm run release -- --arch arm64` on an amd64 machine runs this, then packages what it prints.
#
#   sudo scripts/release/cross.sh --arch arm64|arm [--root DIR]
#     prints, as the last line on stdout, the node_modules folder (ROOT/build/<arch>-<lock hash>/)
#     built from this checkout's package-lock.json; a second run with the same lock file reuses it
#   sudo scripts/release/cross.sh --arch arm64 --root-only    only the root (CI can start it early)
#
#   --root DIR   the root (default $QRPOS_CROSS_ROOT, else /var/tmp/qrpos-cross-<debian arch>),
#                made the first time (about 3.5 min and 1.3 GB of downloads), kept afterwards
#   env: DEBIAN_MIRROR=URL (default: the archive this machine's apt uses)
#
# How each native module gets there: `npm ci --omit=dev --ignore-scripts --os=linux --cpu=<arch>`
# with this machine's npm (so per-architecture optional packages such as koffi's are the
# target's); packages that carry a prebuilt binary for linux-<arch> (node-hid, serialport's
# bindings) keep it; the other node-gyp packages (better-sqlite3, canvas, epoll) are compiled
# with the cross compiler against Debian 13's Node.js 20 headers (ABI 115) by upstream node-gyp
# (Debian's own node-gyp links addons to libnode.so, which NodeSource's Node.js does not have).
# Needs root (debootstrap, chroot mounts), the Debian archive and the npm registry.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SUITE=trixie
NODE_GYP=node-gyp@12.4.0
ARCH="" ROOT=${QRPOS_CROSS_ROOT:-} ROOT_ONLY=0
die() { echo "cross.sh: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) [ $# -ge 2 ] || die "--arch needs arm64 or arm"; ARCH=$2; shift ;;
    --root) [ $# -ge 2 ] || die "--root needs a directory"; ROOT=$2; shift ;;
    --root-only) ROOT_ONLY=1 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "cross.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$ARCH" in
  arm64|aarch64) ARCH=arm64 DEB=arm64 TRIPLET=aarch64-linux-gnu QEMU=qemu-aarch64 ;;
  arm|armhf) ARCH=arm DEB=armhf TRIPLET=arm-linux-gnueabihf QEMU=qemu-arm ;;
  "") die "--arch is required (arm64 or arm)" ;;
  *) die "no cross build for --arch $ARCH here (arm64 or arm)" ;;
esac
[ "$(uname -m)" = x86_64 ] || die "this builds on an amd64 machine; on a linux-$ARCH machine run npm run release there"
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || die "needs root (debootstrap, chroot mounts); sudo is not installed"
  again=(--arch "$ARCH")
  [ -z "$ROOT" ] || again+=(--root "$ROOT")
  [ "$ROOT_ONLY" = 0 ] || again+=(--root-only)
  exec sudo --preserve-env=DEBIAN_MIRROR,QRPOS_CROSS_ROOT "$0" "${again[@]}"
fi
command -v npm >/dev/null || die "npm is needed on this machine (it fetches the packages for $ARCH)"
ROOT=${ROOT:-/var/tmp/qrpos-cross-$DEB}
mkdir -p "$ROOT"
ROOT=$(cd "$ROOT" && pwd)

SECONDS=0
say() { printf '[cross %s %4ds] %s\n' "$ARCH" "$SECONDS" "$*" >&2; }

# shellcheck source=scripts/ci/debroot.sh
. "$REPO/scripts/ci/debroot.sh"
trap debroot_umount EXIT
trap 'exit 143' TERM INT

# ---- 1. the root: trixie amd64, the <arch> cross toolchain and -dev libraries, Node.js headers,
#         and for the check: Debian's nodejs for <arch> (its libnode through apt) and a static qemu
PKGS=(crossbuild-essential-"$DEB" python3 make pkgconf nodejs libnode-dev
  libcairo2-dev:"$DEB" libpango1.0-dev:"$DEB" libjpeg-dev:"$DEB" libgif-dev:"$DEB" librsvg2-dev:"$DEB"
  libudev-dev:"$DEB" libusb-1.0-0-dev:"$DEB" libnode115:"$DEB")
READY=$ROOT/var/lib/qrpos-cross-ready
want="$SUITE ${PKGS[*]} $NODE_GYP"
if [ ! -f "$READY" ] || [ "$(cat "$READY")" != "$want" ]; then
  MIRROR=$(debroot_mirror)
  [ -n "$MIRROR" ] || die "no Debian mirror found in /etc/apt/sources.list*; set DEBIAN_MIRROR"
  say "root $ROOT: debootstrap $SUITE from $MIRROR (once)"
  debroot_create "$ROOT" "$SUITE" "$MIRROR"
  debroot_configure "$ROOT" "$SUITE" "$MIRROR"
  debroot_mount "$ROOT"
  debroot_run "$ROOT" update-ca-certificates >/dev/null 2>&1
  debroot_run "$ROOT" dpkg --add-architecture "$DEB"
  debroot_run "$ROOT" apt-get update -qq
  say "installing ${#PKGS[@]} packages (cross toolchain, $DEB libraries)"
  # A postinst of an $DEB package that runs an $DEB program fails harmlessly (Exec format error).
  debroot_run "$ROOT" apt-get install -y -qq --no-install-recommends "${PKGS[@]}" >"$ROOT/var/log/qrpos-cross-apt.log" 2>&1 ||
    { tail -20 "$ROOT/var/log/qrpos-cross-apt.log" >&2; die "apt-get install failed in $ROOT (log $ROOT/var/log/qrpos-cross-apt.log)"; }
  dl=$ROOT/var/cache/qrpos-cross
  rm -rf "$dl" && mkdir -p "$dl"
  debroot_run "$ROOT" sh -c "cd /var/cache/qrpos-cross && apt-get download -q nodejs:$DEB qemu-user" >/dev/null 2>&1 ||
    die "apt-get download nodejs:$DEB qemu-user failed in $ROOT"
  rm -rf "$ROOT/opt/node-$DEB" "$ROOT/opt/qemu" && mkdir -p "$ROOT/opt/qemu"
  dpkg-deb -x "$dl"/nodejs_*_"$DEB".deb "$ROOT/opt/node-$DEB"
  dpkg-deb --fsys-tarfile "$dl"/qemu-user_*.deb | tar -x -C "$ROOT/opt/qemu" --strip-components=3 "./usr/bin/$QEMU"
  rm -rf "$dl"
  rm -rf "$ROOT/opt/node-gyp"
  npm install --prefix "$ROOT/opt/node-gyp" --no-audit --no-fund --no-save "$NODE_GYP" >/dev/null ||
    die "npm install $NODE_GYP failed"
  debroot_umount
  printf '%s' "$want" >"$READY"
  say "root ready: $(du -sh --one-file-system "$ROOT" | cut -f1)"
fi
if [ "$ROOT_ONLY" = 1 ]; then say "root $ROOT ready"; exit 0; fi

# ---- 2. production node_modules for linux-<arch>, once per lock file
lockhash=$(sha256sum "$REPO/package-lock.json" | cut -c1-16)
B=build/$ARCH-$lockhash
OUT=$ROOT/$B
if [ -f "$OUT/.qrpos-cross-done" ]; then
  say "reusing $OUT/node_modules (same package-lock.json)"
  echo "$OUT/node_modules"
  exit 0
fi
rm -rf "$OUT" && mkdir -p "$OUT"
cp "$REPO/package.json" "$REPO/package-lock.json" "$OUT/"
say "npm ci --omit=dev --ignore-scripts --os=linux --cpu=$ARCH"
(cd "$OUT" && npm ci --omit=dev --ignore-scripts --os=linux --cpu="$ARCH" --no-audit --no-fund --loglevel=error >&2)

debroot_mount "$ROOT"
X=(CC="$TRIPLET-gcc" CXX="$TRIPLET-g++" AR="$TRIPLET-ar" LINK="$TRIPLET-g++" JOBS=2
  PKG_CONFIG_LIBDIR="/usr/lib/$TRIPLET/pkgconfig:/usr/share/pkgconfig")
while IFS= read -r gyp; do
  dir=${gyp%/binding.gyp}
  name=${dir#"$OUT"/node_modules/}
  if compgen -G "$dir/prebuilds/*linux-$ARCH/*.node" >/dev/null; then
    say "$name: its own prebuilt linux-$ARCH binary"
    continue
  fi
  t=$SECONDS
  # shellcheck disable=SC2016 # expanded by the sh inside the root
  debroot_run "$ROOT" sh -c 'cd "$1" && shift && env "$@" node /opt/node-gyp/node_modules/node-gyp/bin/node-gyp.js rebuild --release \
      --arch="$0" --nodedir=/usr/include/nodejs >build.log 2>&1' "$ARCH" "/$B/node_modules/$name" "${X[@]}" ||
    { tail -30 "$dir/build.log" >&2; die "$name: the $ARCH build failed (log $dir/build.log)"; }
  rm -f "$dir/build.log"
  say "$name: compiled for linux-$ARCH in $((SECONDS - t)) s"
done < <(find "$OUT/node_modules" -name binding.gyp -not -path '*/node_modules/*/node_modules/*/node_modules/*' | sort)
debroot_umount
touch "$OUT/.qrpos-cross-done"
say "node_modules for linux-$ARCH ready"
echo "$OUT/node_modules"

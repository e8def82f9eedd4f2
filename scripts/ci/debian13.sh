#!/usr/bin/env bash
# The README's test line on a fresh Debian 13 (trixie) with Debian's own nodejs and npm, run
# as a non-root user with sudo, in a root built here with debootstrap and entered with chroot;
# then setup.sh installed there as in an image build (scripts/ci/image-build.sh).
#
#   sudo scripts/ci/debian13.sh                 build the root, run bootstrap.sh --test && npm test
#   sudo scripts/ci/debian13.sh --keep DIR      build in DIR and keep it afterwards (a second run
#                                               with the same DIR reuses the root: quicker)
#   sudo scripts/ci/debian13.sh --shell         the same root, then an interactive shell as the user
#   sudo scripts/ci/debian13.sh --prepare --keep DIR   only what needs the network and little CPU:
#                                               the root, nodejs/npm, the checkout, and the Debian
#                                               packages bootstrap.sh --test will install, downloaded
#                                               (not installed); a later run with --keep DIR goes on
#   --npm-cache DIR                             start the user's npm cache from a copy of DIR
#                                               (e.g. /root/.npm after an npm ci here): no download
#   env: DEBIAN_MIRROR=URL    the Debian archive (default: the one this machine's apt uses)
#        CI_TEST="cmd"        what to run in the checkout instead of the test line
#
# Tests the committed HEAD of this checkout (a git clone of it), not uncommitted edits.
# Needs root (debootstrap, mounts), ~3 GB in /var/tmp, and the Debian archive and npm registry.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SUITE=trixie
KEEP="" SHELL_AFTER=0 PREPARE=0 NPM_CACHE=""
while [ $# -gt 0 ]; do
  case "$1" in
    --keep) [ $# -ge 2 ] || { echo "debian13.sh: --keep needs a directory" >&2; exit 2; }; KEEP=$2; shift ;;
    --shell) SHELL_AFTER=1 ;;
    --prepare) PREPARE=1 ;;
    --npm-cache) [ $# -ge 2 ] || { echo "debian13.sh: --npm-cache needs a directory" >&2; exit 2; }; NPM_CACHE=$2; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "debian13.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "debian13.sh: needs root (debootstrap, chroot mounts); sudo is not installed" >&2; exit 1; }
  exec sudo --preserve-env=DEBIAN_MIRROR,CI_TEST "$0" "$@"
fi
[ "$PREPARE" = 0 ] || [ -n "$KEEP" ] || { echo "debian13.sh: --prepare needs --keep DIR (where the next run finds the root)" >&2; exit 2; }

SECONDS=0
T0=$SECONDS
stamp() { printf '[debian13 %4ds] %s\n' "$SECONDS" "$*"; }
phase_end() { stamp "$1 took $((SECONDS - T0)) s"; T0=$SECONDS; }

# ---- the root's helpers (debootstrap, apt sources, certificates, mounts), shared with scripts/release/cross.sh
# shellcheck source=scripts/ci/debroot.sh
. "$(dirname "$0")/debroot.sh"
MIRROR=$(debroot_mirror)
[ -n "$MIRROR" ] || { echo "debian13.sh: no Debian mirror found in /etc/apt/sources.list*; set DEBIAN_MIRROR" >&2; exit 1; }
stamp "mirror $MIRROR"

if [ -n "$KEEP" ]; then mkdir -p "$KEEP"; ROOT=$(cd "$KEEP" && pwd); else ROOT=$(mktemp -d /var/tmp/qrpos-debian13.XXXXXX); fi
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  debroot_umount
  if [ -z "$KEEP" ]; then rm -rf --one-file-system "$ROOT"; fi
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# ---- 1. the root: a minimal trixie, then Debian's own nodejs and npm, sudo and git
if [ ! -x "$ROOT/usr/bin/apt-get" ]; then stamp "debootstrap $SUITE into $ROOT"; fi
debroot_create "$ROOT" "$SUITE" "$MIRROR" || exit 1
debroot_configure "$ROOT" "$SUITE" "$MIRROR"
debroot_mount "$ROOT"

in_root() { debroot_run "$ROOT" "$@"; }
U=ci
if [ ! -f "$ROOT/var/lib/qrpos-ci-prepared" ]; then
  in_root update-ca-certificates >/dev/null
  in_root apt-get update -qq
  in_root apt-get install -y -qq --no-install-recommends nodejs npm sudo git >/dev/null
  phase_end "root with $(in_root node -v) and npm $(in_root npm -v)"

  # ---- 2. a user with sudo and a clean checkout of this repository's HEAD
  in_root id -u "$U" >/dev/null 2>&1 || in_root useradd --create-home --shell /bin/bash "$U"
  echo "$U ALL=(ALL) NOPASSWD: ALL" >"$ROOT/etc/sudoers.d/qrpos-ci"
  chmod 0440 "$ROOT/etc/sudoers.d/qrpos-ci"
  rm -rf "$ROOT/home/$U/qrpos"
  git clone -q --no-hardlinks "$REPO" "$ROOT/home/$U/qrpos"
  in_root chown -R "$U:$U" "/home/$U/qrpos"
  stamp "checkout $(git -C "$REPO" rev-parse --short HEAD) in /home/$U/qrpos"
  # What bootstrap.sh --test will install through sudo, fetched now (installing stays its job).
  mapfile -t pkgs < <(in_root bash "/home/$U/qrpos/scripts/bootstrap.sh" --test --print-packages)
  in_root apt-get install -y -qq --download-only --no-install-recommends "${pkgs[@]}" >/dev/null
  phase_end "downloaded ${#pkgs[@]} packages for bootstrap.sh --test"
  touch "$ROOT/var/lib/qrpos-ci-prepared"
fi
if [ "$PREPARE" = 1 ]; then stamp "prepared $ROOT"; exit 0; fi
if [ "$(git -c safe.directory='*' -C "$ROOT/home/$U/qrpos" rev-parse HEAD 2>/dev/null)" != "$(git -C "$REPO" rev-parse HEAD)" ]; then
  rm -rf "$ROOT/home/$U/qrpos"
  git clone -q --no-hardlinks "$REPO" "$ROOT/home/$U/qrpos"
  in_root chown -R "$U:$U" "/home/$U/qrpos"
  stamp "checkout $(git -C "$REPO" rev-parse --short HEAD) in /home/$U/qrpos"
fi
if [ -n "$NPM_CACHE" ] && [ -d "$NPM_CACHE/_cacache" ]; then
  rm -rf "$ROOT/home/$U/.npm" && mkdir -p "$ROOT/home/$U/.npm"
  cp -a "$NPM_CACHE/_cacache" "$ROOT/home/$U/.npm/_cacache"
  in_root chown -R "$U:$U" "/home/$U/.npm"
  phase_end "npm cache copied from $NPM_CACHE"
fi

# ---- 3. the README's test line as that user, with the PATH a Debian login gives a non-root user
as_user() {
  chroot "$ROOT" /usr/sbin/runuser -u "$U" -- env -i HOME="/home/$U" USER="$U" LOGNAME="$U" LANG=C.UTF-8 TERM=dumb CI="${CI:-}" \
    PATH=/usr/local/bin:/usr/bin:/bin:/usr/games NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
    bash -c "cd ~/qrpos && $1"
}
status=0
stamp "running as $U: ${CI_TEST:-scripts/bootstrap.sh --test && npm test}"
if [ -n "${CI_TEST:-}" ]; then
  as_user "$CI_TEST" || status=$?
  phase_end "$CI_TEST"
else
  as_user 'scripts/bootstrap.sh --test' || status=$?
  phase_end "bootstrap.sh --test"
  if [ "$status" = 0 ]; then as_user 'npm test' || status=$?; phase_end "npm test"; fi
  # Then setup.sh as an image build runs it: this root is a chroot with no systemd running.
  if [ "$status" = 0 ]; then as_user 'scripts/ci/image-build.sh' || status=$?; phase_end "image build check"; fi
fi
if [ "$SHELL_AFTER" = 1 ]; then as_user 'exec bash -i' </dev/tty || true; fi
stamp "done (exit $status), $SECONDS s in all"
exit "$status"

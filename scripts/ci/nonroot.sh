#!/usr/bin/env bash
# The README's test line as a non-root user with sudo, on this machine: a clone of this
# checkout's HEAD in the home of a user made for it, run with the PATH a Debian login gives a
# non-root user (no /usr/sbin, /sbin).
#
#   sudo scripts/ci/nonroot.sh                     user qrpos-ci; bootstrap.sh --test && npm test
#   sudo scripts/ci/nonroot.sh --reuse-modules     start from this checkout's node_modules (and
#                                                  its .emu download cache) instead of a fresh npm ci
#   env: CI_USER=name (default qrpos-ci), CI_TEST="cmd" to run instead of the test line
#
# Needs root once (useradd, sudo, the sudoers entry); the tests themselves run as the user.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
U=${CI_USER:-qrpos-ci}
REUSE=0
for a in "$@"; do
  case "$a" in
    --reuse-modules) REUSE=1 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "nonroot.sh: unknown option $a (see --help)" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "nonroot.sh: run it as root (it makes the user $U and its sudoers entry)" >&2; exit 1; }
SECONDS=0
stamp() { printf '[nonroot %4ds] %s\n' "$SECONDS" "$*"; }

if ! command -v sudo >/dev/null; then
  stamp "installing sudo"
  lock=(); command -v flock >/dev/null && lock=(flock /tmp/apt.lock)
  "${lock[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${lock[@]}" apt-get install -y -qq --no-install-recommends sudo >/dev/null
fi
id -u "$U" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$U"
echo "$U ALL=(ALL) NOPASSWD: ALL" >"/etc/sudoers.d/qrpos-ci-$U"
chmod 0440 "/etc/sudoers.d/qrpos-ci-$U"
H=$(getent passwd "$U" | cut -d: -f6)
rm -rf "$H/qrpos"
git clone -q --no-hardlinks "$REPO" "$H/qrpos"
if [ "$REUSE" = 1 ]; then
  [ ! -d "$REPO/node_modules" ] || cp -a "$REPO/node_modules" "$H/qrpos/node_modules"
  [ ! -d "$REPO/.emu/pkgs" ] || { mkdir -p "$H/qrpos/.emu" && cp -a "$REPO/.emu/pkgs" "$H/qrpos/.emu/pkgs"; }
fi
chown -R "$U:" "$H/qrpos"
stamp "checkout $(git -C "$REPO" rev-parse --short HEAD) in $H/qrpos (user $U, uid $(id -u "$U"))"

status=0
cmd=${CI_TEST:-scripts/bootstrap.sh --test && npm test}
stamp "running as $U: $cmd"
runuser -u "$U" -- env -i HOME="$H" USER="$U" LOGNAME="$U" LANG=C.UTF-8 TERM=dumb CI="${CI:-}" \
  PATH=/usr/local/bin:/usr/bin:/bin:/usr/games ${NODE_EXTRA_CA_CERTS:+NODE_EXTRA_CA_CERTS="$NODE_EXTRA_CA_CERTS"} \
  bash -c "cd ~/qrpos && $cmd" || status=$?
stamp "done (exit $status), $SECONDS s in all"
exit "$status"

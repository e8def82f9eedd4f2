#!/usr/bin/env bash
# Releases under a real systemd: a Debian 13 (trixie; --suite bookworm for 12) root booted with
# `systemd-nspawn -b` on the unified cgroup hierarchy (cgroup v2, as on a Trixie device; this
# works on a host with hybrid cgroups too: SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1), private network,
# writes on a throwaway overlay, this machine's Node.js bound in read-only. Inside, as a device
# and its merchant's server would, scripts/release/upgrade-check.sh (read it for every check):
#   part 1, fleet updates from the relay with a cashier at the counter: relay, Omise simulator
#     and terminal installed from bundle A by setup.sh (hardened units), the terminal paired;
#     sales keyed in and paid before, during and after each of:
#     A -> B   `qrpos relay releases add` + `rollout`: pulled over the link at idle, upgraded, reported
#     B -> C   C's self-test passes, its service exits at start: rolled back to B, reported
#     B -> E   E signed by a key the relay trusts and the terminal does not: refused, reported
#     then 0 journal entries lost, 0 sales interrupted (every one paid and synced), the version
#     running (status endpoint, `qrpos version`) and `qrpos relay fleet` right each time;
#   part 2, by hand (`qrpos upgrade FILE`, `qrpos rollback`): rollback to A and B again with
#     SIGINT/SIGHUP/SIGTERM arriving; D migrates the journal then exits (rolled back, journal put
#     back); E by hand (refused); F never READY (deadline, rolled back); H migrates the relay
#     database then exits (rolled back, database put back); G migrates and gets READY but never
#     ready to sell (not rolled back, exit 4); rollback to B with the journal backup; refused once
#     a sale was made since the backup;
#   and the systemd version and `systemd-analyze security` of both units.
# The broken releases C, D, F, G, H are this checkout's source with small checked edits
# (scripts/release/testing/variants.ts); A, B, E are this checkout as it is.
# Prints each stage's time, the downtime of each switch and each rollback.
#
# Usage (root; needs debootstrap, systemd-container, Debian's archive the first time):
#   sudo scripts/release/upgrade-nspawn.sh [--suite trixie|bookworm] [--workdir DIR] [--reuse] [--shell] [--prepare]
#     --suite S       the Debian release booted (default trixie)
#     --workdir DIR   default /var/tmp/qrpos-upgrade-nspawn: the Debian root is cached there
#                     (debootstrap about 2 min the first time), and the bundles, keys, results
#     --reuse         the bundles of the last run (DIR/bundles) that are there, not built again
#     --shell         after the run, open a shell in a container with the last results
#     --prepare       only build the Debian root (CI does it in the background, network-bound)
# Exit 0 when every check passed; 1 otherwise (results in DIR/results/out.txt).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
W=/var/tmp/qrpos-upgrade-nspawn
SHELL_AFTER=0 REUSE=0 PREPARE=0 SUITE=trixie
while [ $# -gt 0 ]; do
  case "$1" in
    --suite) SUITE=$2; shift ;;
    --workdir) W=$2; shift ;;
    --shell) SHELL_AFTER=1 ;;
    --reuse) REUSE=1 ;;
    --prepare) PREPARE=1 ;;
    -h|--help) sed -n '2,37p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
[ "$(id -u)" = 0 ] || { echo "run as root (systemd-nspawn)" >&2; exit 2; }
case "$SUITE" in trixie|bookworm) ;; *) echo "--suite: trixie or bookworm, not $SUITE" >&2; exit 2 ;; esac
NODE=$(command -v node)
R=$W/root-$SUITE
mkdir -p "$W"
t0=$(date +%s)
say() { printf '[%4ss] %s\n' "$(( $(date +%s) - t0 ))" "$*"; }

# ---------------------------------------------------------------- the Debian root (cached)
PKGS=systemd,systemd-sysv,dbus,libcairo2,libpango-1.0-0,libpangocairo-1.0-0,libjpeg62-turbo,libgif7,librsvg2-2,libudev1,libusb-1.0-0,curl,ca-certificates,sqlite3
if [ ! -x "$R/lib/systemd/systemd" ]; then
  say "debootstrap $SUITE (minbase + systemd and the libraries the native modules load) into $R"
  rm -rf "$R.new"
  # shellcheck source=scripts/ci/mirror.sh
  . "$REPO/scripts/ci/mirror.sh"
  MIRROR=${DEBIAN_MIRROR:-$(mirror_of_host | head -1)}
  debootstrap --variant=minbase --include=$PKGS "$SUITE" "$R.new" "${MIRROR:-http://deb.debian.org/debian}" >"$W/debootstrap.log" 2>&1 ||
    { tail -20 "$W/debootstrap.log" >&2; echo "debootstrap failed (log $W/debootstrap.log)" >&2; exit 1; }
  mv "$R.new" "$R"
fi
if [ "$PREPARE" = 1 ]; then say "the Debian root is ready: $R"; exit 0; fi
for lib in $(ldd "$NODE" | awk '/=>/ {print $3}'); do
  [ -e "$R$lib" ] || [ -e "$R/usr$lib" ] || { echo "the root lacks $lib, which $NODE needs" >&2; exit 1; }
done

# ---------------------------------------------------------------- keys and bundles
K=$W/keys B=$W/bundles D=$W/build
BUNDLES="upg-a upg-b upg-c-exits upg-d-migrates upg-e-untrusted upg-f-hangs upg-g-never-ready upg-h-relay-migrates"
if [ "$REUSE" != 1 ] || [ ! -s "$K/test.pub" ]; then
  rm -rf "$K" "$B"
  mkdir -p "$K"
  node "$REPO/scripts/ci/throwaway-keys.cjs" "$K" test other
fi
mkdir -p "$B" "$D"
missing=""
for b in $BUNDLES; do [ -s "$B/$b.tar.gz" ] || missing="$missing $b"; done

# The dist/ each bundle is made of: this checkout's, or a variant broken on purpose, compiled
# from this checkout's source with the small checked edits of scripts/release/testing/variants.ts
# (an edit whose anchor is gone stops the build and says which).
dist_for() {
  case "$1" in upg-a|upg-b|upg-e-untrusted) echo "$D/dist"; return ;; esac
  (cd "$REPO" && node node_modules/tsx/dist/cli.mjs scripts/release/testing/variants.ts --dist "$D/dist" --variant "$1" --out "$D/variants/$1") >"$B/$1.variant.log" 2>&1 \
    || { cat "$B/$1.variant.log" >&2; return 1; }
  echo "$D/variants/$1"
}
build() { # version
  local key=$K/test.pem pub=$K/test.pub dist
  # E is signed by a key the device does not trust. The build refuses a key its shipped file does
  # not list, so E ships other.pub: its signature is good, for a key the device does not have.
  if [ "$1" = upg-e-untrusted ]; then key=$K/other.pem pub=$K/other.pub; fi
  dist=$(dist_for "$1") || exit 1
  (cd "$REPO" && node node_modules/tsx/dist/cli.mjs src/release/cli.ts --dist "$dist" --version "$1" --key "$key" --public-key "$pub" --out "$B") >"$B/$1.log" 2>&1 \
    || { cat "$B/$1.log" >&2; exit 1; }
  mv "$B/qrpos-$1-linux-"*.tar.gz "$B/$1.tar.gz"
}
if [ -n "$missing" ]; then
  say "compiling this checkout (tsc) into $D/dist"
  rm -rf "$D/dist"
  # Type errors in files others are editing meanwhile do not stop the run: tsc still writes the JavaScript.
  node "$REPO/node_modules/typescript/bin/tsc" -p "$REPO/tsconfig.json" --outDir "$D/dist" >"$D/tsc.log" 2>&1 \
    || { [ -f "$D/dist/src/cli/main.js" ] && say "tsc reported type errors (see $D/tsc.log); using its output"; } || { cat "$D/tsc.log" >&2; exit 1; }
  say "building bundles:$missing (two at a time)"
  pids=()
  for b in $missing; do
    build "$b" &
    pids+=($!)
    if [ ${#pids[@]} -ge 2 ]; then wait "${pids[0]}" || exit 1; pids=("${pids[@]:1}"); fi
  done
  for p in "${pids[@]}"; do wait "$p" || exit 1; done
else
  say "reusing the bundles in $B"
fi
for b in $BUNDLES; do echo "  $(stat -c %s "$B/$b.tar.gz") $b.tar.gz"; done

# ---------------------------------------------------------------- the check inside
mkdir -p "$W/opt" "$W/results"
rm -f "$W/results/"*
# The check runs from a copy: editing the checkout meanwhile does not change a running check.
install -m 0755 "$REPO/scripts/release/upgrade-check.sh" "$W/opt/upgrade-check.sh"
cat >"$W/opt/qrpos-check.service" <<'UNIT'
[Unit]
After=multi-user.target
[Service]
Type=oneshot
TimeoutStartSec=0
Environment=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ExecStart=/check/upgrade-check.sh
UNIT

# The check unit is bound in at each run; its wants link stays in the cached root (dangling, and
# so ignored, in a container booted without the unit).
ln -sfn /etc/systemd/system/qrpos-check.service "$R/etc/systemd/system/multi-user.target.wants/qrpos-check.service"
# No systemd on the host (a CI container): no machined registration, no scope unit, and
# nspawn's propagation folder on a tmpfs.
if [ ! -S /run/dbus/system_bus_socket ] && ! mountpoint -q /run/systemd/nspawn; then
  mkdir -p /run/systemd/nspawn && mount -t tmpfs tmpfs /run/systemd/nspawn
fi
# Trixie's systemd (257) boots on cgroup v1 only with a kernel flag, and 258 not at all; a device
# runs the unified hierarchy (cgroup v2). nspawn mounts it in the container's own cgroup
# namespace even on a host with hybrid cgroups (where the controllers stay with v1: MemoryMax=
# and DevicePolicy= are then not enforced in here, while the sandboxing, notify socket,
# watchdog and restarts are systemd's own).
export SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1
say "booting the $SUITE container (writes go to a tmpfs overlay; the cached root stays as it is)"
TB=$(date +%s)
timeout 900 systemd-nspawn -q --keep-unit --register=no --private-network --volatile=overlay -D "$R" -b \
  --bind-ro="$NODE:/usr/bin/node" --bind-ro="$REPO:/repo" --bind-ro="$B:/bundles" --bind-ro="$K:/keys" \
  --bind-ro="$W/opt:/check" --bind="$W/results:/results" \
  --bind-ro="$W/opt/qrpos-check.service:/etc/systemd/system/qrpos-check.service" \
  >"$W/nspawn.log" 2>&1 || true
say "container stopped ($(( $(date +%s) - TB )) s from boot to power-off)"
if [ ! -s "$W/results/out.txt" ]; then
  echo "FAIL: no results; see $W/nspawn.log" >&2
  tail -30 "$W/nspawn.log" >&2
  exit 1
fi
echo "---------------------------------------------------------------- inside"
cat "$W/results/out.txt"
echo "---------------------------------------------------------------- summary"
grep -E '^(RESULT|TIME)' "$W/results/out.txt"
if [ "$SHELL_AFTER" = 1 ]; then
  systemd-nspawn -q --register=no --volatile=overlay -D "$R" --bind-ro="$NODE:/usr/bin/node" --bind-ro="$REPO:/repo" --bind-ro="$B:/bundles" --bind="$W/results:/results" || true
fi
if grep -q '^CHECKS DONE: 0 failed' "$W/results/out.txt" && ! grep -q '^RESULT FAIL' "$W/results/out.txt"; then
  echo "PASS: every upgrade, rollback and refusal as expected ($(( $(date +%s) - t0 )) s)"
  exit 0
fi
echo "FAIL: see above and $W/results/out.txt, $W/nspawn.log" >&2
exit 1

#!/usr/bin/env bash
# Upgrades and rollbacks under a real systemd: a Debian 12 root booted with `systemd-nspawn -b`
# (private network, writes on a throwaway overlay), this machine's Node.js bound in read-only.
# Inside, as a device would:
#   1. setup.sh --bundle A (release A, signed with a throwaway key), the service READY
#   2. qrpos upgrade B         -> upgraded: READY, GET /ready 200, version B on the status endpoint
#   2b. setup.sh --relay: from here on both services run from /opt/qrpos/current (C: both back on B)
#   3. qrpos rollback          -> back to A by hand; then qrpos upgrade B again (already installed)
#   4. qrpos upgrade C         C's self-test passes but its daemon exits at start -> rolled back to B
#   5. qrpos upgrade D         D migrates the journal to schema 5, then exits before READY ->
#                              rolled back to B with the journal put back (schema 4), migrated copy kept
#   6. qrpos upgrade E         E is signed by a key the device does not trust -> refused, nothing changed
#   7. qrpos upgrade F         F's daemon never gets READY (hangs): the deadline (--ready-timeout 15
#                              here; 60 s by default) passes -> rolled back to B
#   7b. qrpos upgrade H        H's relay migrates its database, then exits -> rolled back to B with
#                              the relay database put back
#   8. qrpos upgrade G         G migrates the journal to 5 and gets READY, but never ready to sell:
#                              NOT rolled back (B cannot read the journal, and G may have written
#                              to it); exit 4, G stays
#   9. qrpos rollback          B by hand: the journal backup (schema 4) put back, as no sale was
#                              made since; G again, a sale made, then qrpos rollback -> refused
# and prints the downtime of each switch (service stopped -> READY and healthy) and each rollback
# (failure seen -> previous release READY and healthy).
#
# Usage (root; needs debootstrap, systemd-container, Debian's archive the first time):
#   sudo scripts/release/upgrade-nspawn.sh [--workdir DIR] [--reuse] [--shell] [--prepare]
#     --workdir DIR   default /var/tmp/qrpos-upgrade-nspawn: the Debian root is cached there
#                     (debootstrap about 2.5 min the first time), and the bundles, keys, results
#     --reuse         the bundles of the last run (DIR/bundles) that are there, not built again
#     --shell         after the run, open a shell in a container with the last results
#     --prepare       only build the Debian root (CI does it in the background, network-bound)
# Exit 0 when every check passed; 1 otherwise (results in DIR/results/out.txt).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
W=/var/tmp/qrpos-upgrade-nspawn
SHELL_AFTER=0 REUSE=0 PREPARE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --workdir) W=$2; shift ;;
    --shell) SHELL_AFTER=1 ;;
    --reuse) REUSE=1 ;;
    --prepare) PREPARE=1 ;;
    -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
[ "$(id -u)" = 0 ] || { echo "run as root (systemd-nspawn)" >&2; exit 2; }
NODE=$(command -v node)
R=$W/root
mkdir -p "$W"
t0=$(date +%s)
say() { printf '[%4ss] %s\n' "$(( $(date +%s) - t0 ))" "$*"; }

# ---------------------------------------------------------------- the Debian 12 root (cached)
PKGS=systemd,systemd-sysv,dbus,libcairo2,libpango-1.0-0,libpangocairo-1.0-0,libjpeg62-turbo,libgif7,librsvg2-2,libudev1,libusb-1.0-0,curl,ca-certificates,sqlite3
if [ ! -x "$R/lib/systemd/systemd" ]; then
  say "debootstrap bookworm (minbase + systemd and the libraries the native modules load) into $R"
  rm -rf "$R.new"
  # shellcheck source=scripts/ci/mirror.sh
  . "$REPO/scripts/ci/mirror.sh"
  MIRROR=${DEBIAN_MIRROR:-$(mirror_of_host | head -1)}
  debootstrap --variant=minbase --include=$PKGS bookworm "$R.new" "${MIRROR:-http://deb.debian.org/debian}" >"$W/debootstrap.log" 2>&1 ||
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
  # shellcheck disable=SC2016 # JavaScript, not shell
  node -e '
const c = require("crypto"), fs = require("fs");
for (const n of ["test", "other"]) {
  const { privateKey, publicKey } = c.generateKeyPairSync("ed25519");
  fs.writeFileSync(`${process.argv[1]}/${n}.pem`, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
  fs.writeFileSync(`${process.argv[1]}/${n}.pub`, publicKey.export({ type: "spki", format: "pem" }));
}' "$K"
fi
mkdir -p "$B" "$D"
missing=""
for b in $BUNDLES; do [ -s "$B/$b.tar.gz" ] || missing="$missing $b"; done

# patch FILE FROM TO: a literal replacement that must happen exactly once.
patch_js() {
  # shellcheck disable=SC2016 # JavaScript, not shell
  node -e '
const fs = require("fs"); const [f, from, to] = process.argv.slice(1);
const s = fs.readFileSync(f, "utf8"); const n = s.split(from).length - 1;
if (n !== 1) { console.error(`${f}: "${from}" found ${n} times`); process.exit(1); }
fs.writeFileSync(f, s.replace(from, to));' "$@"
}
# The dist/ each bundle is made of: this checkout's, or a copy broken on purpose.
dist_for() {
  local d=$D/patched/$1
  case "$1" in upg-a|upg-b|upg-e-untrusted) echo "$D/dist"; return ;; esac
  rm -rf "$d"; mkdir -p "$D/patched"; cp -a "$D/dist" "$d"
  case "$1" in
    upg-c-exits)
      patch_js "$d/src/terminal/cli.js" '    async run(argv) {' \
        '    async run(argv) { if (argv[0] !== "journal") { process.stderr.write("broken release (test): exits at start\n"); process.exit(3); }' ;;
    upg-d-migrates|upg-g-never-ready)
      patch_js "$d/src/terminal/journal.js" 'const SCHEMA_VERSION = 4;' 'const SCHEMA_VERSION = 5;'
      patch_js "$d/src/terminal/journal.js" 'const UNRESOLVED_LATE' 'MIGRATIONS[5] = "CREATE TABLE upgrade_test (x INTEGER);";
const UNRESOLVED_LATE'
      if [ "$1" = upg-d-migrates ]; then
        patch_js "$d/src/terminal/daemon.js" "    stops.push({ name: 'journal', fn: () => journal.close() });" \
          "    stops.push({ name: 'journal', fn: () => journal.close() }); process.stderr.write('broken release (test): exits after opening (migrating) the journal\n'); process.exit(5);"
      else
        patch_js "$d/src/terminal/daemon.js" 'ready: st.ok && !held,' 'ready: false,'
      fi ;;
    upg-f-hangs)
      patch_js "$d/src/terminal/cli.js" '    async run(argv) {' \
        '    async run(argv) { if (argv[0] !== "journal") { process.stderr.write("broken release (test): hangs, never READY\n"); await new Promise(() => setInterval(() => undefined, 1 << 30)); }' ;;
    upg-h-relay-migrates)
      patch_js "$d/src/relay/sqlite-store.js" 'exports.SCHEMA_VERSION = MIGRATIONS.length;' 'MIGRATIONS.push("CREATE TABLE upgrade_test (x INTEGER);");
exports.SCHEMA_VERSION = MIGRATIONS.length;'
      patch_js "$d/src/relay/cli.js" '        relay = await startRelay({ config, secrets, log });' \
        '        relay = await startRelay({ config, secrets, log }); process.stderr.write("broken release (test): the relay exits after opening (migrating) its database\n"); process.exit(6);' ;;
  esac
  echo "$d"
}
build() { # version
  local key=$K/test.pem pub=$K/test.pub dist
  # E is signed by a key the device does not trust. The build refuses a key its shipped file does
  # not list, so E ships other.pub: its signature is good, for a key the device does not have.
  if [ "$1" = upg-e-untrusted ]; then key=$K/other.pem pub=$K/other.pub; fi
  dist=$(dist_for "$1")
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
  say "building bundles:$missing"
  for b in $missing; do build "$b"; done
else
  say "reusing the bundles in $B"
fi
for b in $BUNDLES; do echo "  $(stat -c %s "$B/$b.tar.gz") $b.tar.gz"; done

# ---------------------------------------------------------------- the check inside
mkdir -p "$W/opt" "$W/results"
rm -f "$W/results/"*
cat >"$W/opt/check.sh" <<'SH'
#!/bin/bash
# Runs inside the booted container (qrpos-check.service), writes /results/out.txt, powers off.
exec >/results/out.txt 2>&1
set -u
fails=0
pass() { echo "RESULT PASS $*"; }
fail() { echo "RESULT FAIL $*"; fails=$((fails + 1)); }
now() { date +%s.%N; }
status() { curl -s --max-time 2 http://127.0.0.1:7601/status; }
field() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{const v=JSON.parse(s)[process.argv[1]];console.log(v===undefined?"":v)}catch{console.log("")}})' "$1"; }
running_version() { status | field version; }
current() { readlink /opt/qrpos/current; }
schema() { sqlite3 /var/lib/qrpos/journal.sqlite 'PRAGMA user_version'; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
upgrade() { local t; t=$(now); /usr/local/bin/qrpos upgrade "$@" 2>&1 | tee /tmp/last.txt; rc=${PIPESTATUS[0]}; wall=$(since "$t"); }

cat >/etc/qrpos-test-terminal.json <<'JSON'
{
  "version": 1,
  "relayUrl": "http://127.0.0.1:9",
  "merchantName": "Upgrade Test",
  "currency": "THB",
  "statusListen": "127.0.0.1:7601",
  "drivers": { "keypad": { "driver": "virtual" }, "display": { "driver": "virtual", "width": 480, "height": 320 } }
}
JSON
mkdir -p /etc/qrpos && cp /etc/qrpos-test-terminal.json /etc/qrpos/terminal.json

echo "== 1. setup.sh --bundle A"
t=$(now)
/repo/scripts/setup.sh --bundle /bundles/upg-a.tar.gz --release-key /keys/test.pub --non-interactive --skip-packages \
  --relay-url http://127.0.0.1:9 --country TH --merchant-name "Upgrade Test" --supervisor-pin 4321 >/tmp/setup.txt 2>&1
rc=$?
tail -15 /tmp/setup.txt
for i in $(seq 1 100); do [ "$(running_version)" = upg-a ] && break; sleep 0.3; done
if [ $rc = 0 ] && [ "$(running_version)" = upg-a ] && [ "$(current)" = releases/upg-a ]; then pass "A installed by setup.sh --bundle and running ($(since "$t") s)"; else fail "A install (exit $rc, running $(running_version))"; cat /tmp/setup.txt; systemctl status qrpos-terminal --no-pager; journalctl -u qrpos-terminal --no-pager | tail -30; fi
systemctl show qrpos-terminal -p ActiveState -p SubState -p StatusText
sqlite3 /var/lib/qrpos/journal.sqlite "INSERT INTO sales (sale_id, ref, amount, currency, status, created_at, updated_at) VALUES ('SALE_before_upgrades', 1, 2500, 'THB', 'successful', datetime('now'), datetime('now'))" 2>&1 || true

echo; echo "== 2. qrpos upgrade B"
upgrade /bundles/upg-b.tar.gz
if [ $rc = 0 ] && [ "$(running_version)" = upg-b ] && [ "$(current)" = releases/upg-b ] && [ "$(readlink /opt/qrpos/previous)" = releases/upg-a ]; then
  pass "A -> B upgraded (exit 0, status endpoint reports upg-b)"; else fail "A -> B (exit $rc, running $(running_version), current $(current))"; fi
echo "TIME downtime-A-B $(grep -o 'sales stopped for [0-9.]* s' /tmp/last.txt | grep -o '[0-9.]*') wall $wall"
ls /var/lib/qrpos/backups/ | grep -q '^journal-4-' && pass "journal backed up before the switch: $(ls /var/lib/qrpos/backups/)" || fail "no journal backup"

echo; echo "== 2b. the relay on the same machine: setup.sh --relay --bundle B (from here on, upgrades stop, back up, start and watch both)"
/repo/scripts/setup.sh --relay --bundle /bundles/upg-b.tar.gz --release-key /keys/test.pub --non-interactive --skip-packages \
  --country TH --public-url http://127.0.0.1:8787 --omise-base-url http://127.0.0.1:9 --omise-secret-key skey_test_upgrade0000 \
  --omise-public-key pkey_test_upgrade0000 --webhook-secret dGVzdC13ZWJob29rLXNlY3JldC0wMQ== >/tmp/setup-relay.txt 2>&1
rc=$?
relay_ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://127.0.0.1:8787/readyz)" = 200 ]; }
relay_schema() { sqlite3 /var/lib/qrpos-relay/relay.db 'PRAGMA user_version'; }
for i in $(seq 1 50); do relay_ready && break; sleep 0.3; done
if [ $rc = 0 ] && relay_ready && [ -f /var/lib/qrpos-relay/relay.db ]; then pass "relay installed and ready (database schema $(relay_schema))"; else fail "relay install (exit $rc)"; tail -20 /tmp/setup-relay.txt; journalctl -u qrpos-relay --no-pager | tail -20; fi
upgrade /bundles/upg-c-exits.tar.gz >/dev/null
if [ $rc = 3 ] && relay_ready && [ "$(running_version)" = upg-b ] && grep -q 'relay database backed up' /tmp/last.txt; then pass "B -> C with the relay too: both back on B"; else fail "B -> C with the relay (exit $rc)"; cat /tmp/last.txt; fi
echo "TIME rollback-C-with-relay $(grep -o '[0-9.]* s after the failure was seen' /tmp/last.txt | grep -o '^[0-9.]*') wall $wall"

echo; echo "== 3. qrpos rollback (by hand), then B again"
/usr/local/bin/qrpos rollback 2>&1 | tee /tmp/last.txt; rc=${PIPESTATUS[0]}
if [ $rc = 3 ] && [ "$(running_version)" = upg-a ] && [ "$(current)" = releases/upg-a ]; then pass "rollback by hand to A (exit 3)"; else fail "rollback by hand (exit $rc, running $(running_version))"; fi
echo "TIME downtime-rollback-B-A $(grep -o 'sales stopped for [0-9.]* s' /tmp/last.txt | grep -o '[0-9.]*')"
# This time Ctrl-C and a dropped SSH session (SIGINT, SIGHUP) arrive while it runs: it goes on.
t=$(now)
/usr/local/bin/qrpos upgrade /bundles/upg-b.tar.gz >/tmp/last.txt 2>&1 &
qpid=$!
sleep 0.8; kill -INT $qpid; sleep 0.3; kill -HUP $qpid; kill -TERM $qpid
wait $qpid; rc=$?; wall=$(since "$t")
cat /tmp/last.txt
if [ $rc = 0 ] && [ "$(running_version)" = upg-b ] && grep -q 'already installed, intact' /tmp/last.txt && grep -q 'SIGHUP ignored' /tmp/last.txt; then
  pass "A -> B again (B already installed: checked, not unpacked again; SIGINT, SIGHUP, SIGTERM during it ignored)"; else fail "A -> B again (exit $rc)"; fi
echo "TIME downtime-A-B-again $(grep -o 'sales stopped for [0-9.]* s' /tmp/last.txt | grep -o '[0-9.]*') wall $wall"

echo; echo "== 4. qrpos upgrade C (exits at start)"
upgrade /bundles/upg-c-exits.tar.gz
if [ $rc = 3 ] && [ "$(running_version)" = upg-b ] && [ "$(current)" = releases/upg-b ] && grep -q 'rolled back to upg-b' /tmp/last.txt; then
  pass "B -> C rolled back to B (exit 3; C's self-test passed, its service failed)"; else fail "B -> C (exit $rc, running $(running_version), current $(current))"; fi
echo "TIME rollback-C $(grep -o '[0-9.]* s after the failure was seen' /tmp/last.txt | grep -o '^[0-9.]*') wall $wall"
awk -v w="$wall" 'BEGIN { exit !(w < 90) }' && pass "C: the whole upgrade and rollback took $wall s (< 90)" || fail "C took $wall s"
grep -F "$(printf '\trollback\tupg-b\tupg-c-exits\t')" /opt/qrpos/history && pass "history says rolled back, and why" || fail "no rollback line in the history"
if [ ! -e /opt/qrpos/releases/upg-c-exits ] && [ "$(readlink /opt/qrpos/previous)" = releases/upg-a ]; then pass "the failed C removed; previous -> A again (the rollback target before C)"; else fail "after C: releases $(ls /opt/qrpos/releases), previous $(readlink /opt/qrpos/previous)"; fi

echo; echo "== 5. qrpos upgrade D (migrates the journal to schema 5, exits before READY)"
before=$(schema)
upgrade /bundles/upg-d-migrates.tar.gz
if [ $rc = 3 ] && [ "$(running_version)" = upg-b ] && [ "$(schema)" = "$before" ] && grep -q 'journal: upg-d-migrates had migrated it to schema 5 and never reached READY' /tmp/last.txt; then
  pass "B -> D rolled back to B with the journal put back (schema $(schema)); sales kept: $(sqlite3 /var/lib/qrpos/journal.sqlite "SELECT sale_id FROM sales")"; else fail "B -> D (exit $rc, running $(running_version), schema $(schema))"; fi
ls -l /var/lib/qrpos/backups/
aside=$(ls /var/lib/qrpos/backups/*.replaced.sqlite 2>/dev/null | head -1)
[ -n "$aside" ] && [ "$(sqlite3 "$aside" 'PRAGMA user_version')" = 5 ] && pass "the migrated journal is kept: $aside (schema 5)" || fail "no migrated journal kept"
echo "TIME rollback-D $(grep -o '[0-9.]* s after the failure was seen' /tmp/last.txt | grep -o '^[0-9.]*') wall $wall"

echo; echo "== 6. qrpos upgrade E (signed by a key the device does not trust)"
ls -la /opt/qrpos/ /opt/qrpos/releases/ > /tmp/before.txt
upgrade /bundles/upg-e-untrusted.tar.gz
ls -la /opt/qrpos/ /opt/qrpos/releases/ > /tmp/after.txt
if [ $rc = 1 ] && grep -q 'refused: .*signature' /tmp/last.txt && [ "$(running_version)" = upg-b ] && diff -q /tmp/before.txt /tmp/after.txt >/dev/null; then
  pass "E refused (untrusted signature), nothing changed"; else fail "E (exit $rc)"; diff /tmp/before.txt /tmp/after.txt; fi

echo; echo "== 7. qrpos upgrade F (never READY), with --ready-timeout 15"
upgrade /bundles/upg-f-hangs.tar.gz --ready-timeout 15
if [ $rc = 3 ] && [ "$(running_version)" = upg-b ] && grep -q 'FAILED: upg-f-hangs, qrpos-terminal: not READY and healthy within 15.0 s' /tmp/last.txt; then pass "B -> F rolled back to B after the deadline"; else fail "B -> F (exit $rc, running $(running_version))"; fi
echo "TIME rollback-F $(grep -o '[0-9.]* s after the failure was seen' /tmp/last.txt | grep -o '^[0-9.]*') wall $wall"

echo; echo "== 7b. qrpos upgrade H (the relay migrates its database, then exits before READY)"
rbefore=$(relay_schema)
upgrade /bundles/upg-h-relay-migrates.tar.gz
if [ $rc = 3 ] && relay_ready && [ "$(relay_schema)" = "$rbefore" ] && [ "$(running_version)" = upg-b ] && grep -q 'relay database: upg-h-relay-migrates had migrated it to schema' /tmp/last.txt; then
  pass "B -> H rolled back to B with the relay database put back (schema $(relay_schema))"; else fail "B -> H (exit $rc, relay schema $(relay_schema), running $(running_version))"; fi
ls -l /var/lib/qrpos-relay/backups/
raside=$(ls /var/lib/qrpos-relay/backups/*.replaced.sqlite 2>/dev/null | head -1)
[ -n "$raside" ] && [ "$(sqlite3 "$raside" 'PRAGMA user_version')" = $((rbefore + 1)) ] && pass "the migrated relay database is kept: $raside" || fail "no migrated relay database kept"
echo "TIME rollback-H $(grep -o '[0-9.]* s after the failure was seen' /tmp/last.txt | grep -o '^[0-9.]*') wall $wall"

echo; echo "== 8. qrpos upgrade G (migrates the journal, READY, never ready to sell), --ready-timeout 10"
upgrade /bundles/upg-g-never-ready.tar.gz --ready-timeout 10
if [ $rc = 4 ] && [ "$(current)" = releases/upg-g-never-ready ] && [ "$(schema)" = 5 ] && grep -q 'NOT rolled back: upg-g-never-ready failed' /tmp/last.txt; then
  pass "B -> G not rolled back (G reached READY after migrating the journal): exit 4, G current, journal schema 5 untouched"; else fail "B -> G (exit $rc, current $(current), schema $(schema))"; fi
for i in $(seq 1 50); do [ "$(running_version)" = upg-g-never-ready ] && break; sleep 0.3; done
[ "$(running_version)" = upg-g-never-ready ] && pass "G started again" || fail "G not running after the refusal to roll back"

echo; echo "== 9. qrpos rollback to B: the schema-4 backup put back (no sale since)"
/usr/local/bin/qrpos rollback 2>&1 | tee /tmp/last.txt; rc=${PIPESTATUS[0]}
if [ $rc = 3 ] && [ "$(running_version)" = upg-b ] && [ "$(schema)" = 4 ] && grep -q 'will be put back (nothing recorded since it)' /tmp/last.txt; then
  pass "rollback by hand to B with the journal backup put back"; else fail "rollback to B (exit $rc, running $(running_version), schema $(schema))"; fi
upgrade /bundles/upg-g-never-ready.tar.gz --ready-timeout 5
[ $rc = 4 ] && [ "$(schema)" = 5 ] || fail "G again (exit $rc, schema $(schema))"
sqlite3 /var/lib/qrpos/journal.sqlite "INSERT INTO sales (sale_id, ref, amount, currency, status, created_at, updated_at) VALUES ('SALE_made_on_g', 2, 4000, 'THB', 'successful', datetime('now'), datetime('now'))"
ls -la /opt/qrpos/ /opt/qrpos/releases/ > /tmp/before.txt
/usr/local/bin/qrpos rollback 2>&1 | tee /tmp/last.txt; rc=${PIPESTATUS[0]}
ls -la /opt/qrpos/ /opt/qrpos/releases/ > /tmp/after.txt
if [ $rc = 1 ] && grep -q 'holds 1 sale made since the newest backup' /tmp/last.txt && [ "$(schema)" = 5 ] && [ "$(current)" = releases/upg-g-never-ready ] && diff -q /tmp/before.txt /tmp/after.txt >/dev/null \
  && [ "$(sqlite3 /var/lib/qrpos/journal.sqlite "SELECT count(*) FROM sales WHERE sale_id = 'SALE_made_on_g'")" = 1 ]; then
  pass "rollback refused: a sale made since the backup would be lost; nothing changed"; else fail "rollback with a sale since the backup (exit $rc)"; fi

echo; echo "== qrpos version"
/usr/local/bin/qrpos version
echo; echo "== /opt/qrpos/history"; cat /opt/qrpos/history
echo; echo "CHECKS DONE: $fails failed"
systemctl poweroff
SH
chmod +x "$W/opt/check.sh"
cat >"$W/opt/qrpos-check.service" <<'UNIT'
[Unit]
After=multi-user.target
[Service]
Type=oneshot
TimeoutStartSec=0
Environment=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ExecStart=/check/check.sh
UNIT

# The check unit is bound in at each run; its wants link stays in the cached root (dangling, and
# so ignored, in a container booted without the unit).
ln -sfn /etc/systemd/system/qrpos-check.service "$R/etc/systemd/system/multi-user.target.wants/qrpos-check.service"
# No systemd on the host (a CI container): no machined registration, no scope unit, and
# nspawn's propagation folder on a tmpfs.
if [ ! -S /run/dbus/system_bus_socket ] && ! mountpoint -q /run/systemd/nspawn; then
  mkdir -p /run/systemd/nspawn && mount -t tmpfs tmpfs /run/systemd/nspawn
fi
say "booting the container (writes go to a tmpfs overlay; the cached root stays as it is)"
timeout 900 systemd-nspawn -q --keep-unit --register=no --private-network --volatile=overlay -D "$R" -b \
  --bind-ro="$NODE:/usr/bin/node" --bind-ro="$REPO:/repo" --bind-ro="$B:/bundles" --bind-ro="$K:/keys" \
  --bind-ro="$W/opt:/check" --bind="$W/results:/results" \
  --bind-ro="$W/opt/qrpos-check.service:/etc/systemd/system/qrpos-check.service" \
  >"$W/nspawn.log" 2>&1 || true
say "container stopped"
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

#!/bin/bash
# Runs inside the container scripts/release/upgrade-nspawn.sh boots (as its qrpos-check.service):
# writes /results/out.txt, then powers the container off. Not for a real device: it installs
# throwaway keys and a simulator. Bound in: /repo (this checkout), /bundles, /keys.
#
# Part 1, fleet updates, with sales at the counter: the relay and the terminal installed from
# bundle A by setup.sh under their hardened units, the Omise simulator beside them, the terminal
# paired with the relay; its keypad is a FIFO on its standard input (the tty keypad driver,
# piped), its screen virtual. Sales are keyed in and paid at the simulator before, during (a sale
# on screen while the rollout is pending; a sale keyed as the upgrade begins, which the hold
# waits for; keys pressed while sales are held) and after
#   A -> B    `qrpos relay releases add` + `rollout --all`: pulled over the terminal's link, upgraded
#             at idle (not while a sale is on screen), reported; `qrpos relay fleet` shows it
#   B -> C    C from the relay: its self-test passes, its service exits at start -> rolled back to B
#   B -> E    E from the relay, signed by a key the relay trusts and the terminal does not -> refused
# and after each: no journal entry lost, every sale paid (none interrupted), the version running
# (status endpoint and `qrpos version`) and the fleet's version and outcome as expected.
# Part 2, by hand on the device (`qrpos upgrade FILE`, `qrpos rollback`): rollback by hand, signals
# ignored during an upgrade, journal and relay database migrations put back, the deadline, and
# the refusals (see upgrade-nspawn.sh).
exec >/results/out.txt 2>&1
set -u
fails=0
T0=$(date +%s.%N)
pass() { echo "RESULT PASS $*"; }
fail() { echo "RESULT FAIL $*"; fails=$((fails + 1)); }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
stage() { echo "TIME stage $1 $(since "$T0")"; }
# jsel EXPR: EXPR of the JSON on stdin (as j); empty for null, undefined or unreadable input.
jsel() {
  # shellcheck disable=SC2016 # JavaScript, not shell
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{let v;try{v=new Function("j","return ("+process.argv[1]+")")(JSON.parse(s))}catch{v=undefined}
console.log(v===undefined||v===null?"":typeof v==="object"?JSON.stringify(v):String(v))})' "$1"
}
status() { curl -s --max-time 2 http://127.0.0.1:7601/status; }
st() { status | jsel "$1"; }
running_version() { st j.version; }
current() { readlink /opt/qrpos/current; }
J=/var/lib/qrpos/journal.sqlite
q() { sqlite3 -cmd '.timeout 5000' "$J" "$1"; }
schema() { q 'PRAGMA user_version'; }
RCFG=/etc/qrpos/relay.json
relay_ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://127.0.0.1:8787/readyz)" = 200 ]; }
relay_schema() { sqlite3 /var/lib/qrpos-relay/relay.db 'PRAGMA user_version'; }
upgrade() { local t; t=$(now); /usr/local/bin/qrpos upgrade "$@" 2>&1 | tee /tmp/last.txt; rc=${PIPESTATUS[0]}; wall=$(since "$t"); }
SIM=http://127.0.0.1:8790
KEYS=/run/qrpos-test-keys
press() { printf '%s' "$1" >"$KEYS"; }
WEBHOOK_SECRET=dGVzdC13ZWJob29rLXNlY3JldC0wMQ==

# ---------------------------------------------------------------- part 1: fleet updates
echo "== 0. the keypad (a FIFO on the terminal's standard input) and the terminal's config"
mkfifo -m 0600 "$KEYS"
# Held open for reading and writing: the service's open never blocks, and a restart reopens it.
sleep infinity <>"$KEYS" &
mkdir -p /etc/systemd/system/qrpos-terminal.service.d /etc/qrpos
cat >/etc/systemd/system/qrpos-terminal.service.d/test-keypad.conf <<'UNIT'
[Service]
StandardInput=file:/run/qrpos-test-keys
StandardOutput=journal
StandardError=journal
UNIT
cat >/etc/qrpos/terminal.json <<'JSON'
{
  "version": 1,
  "relayUrl": "http://127.0.0.1:8787",
  "merchantName": "Upgrade Test",
  "currency": "THB",
  "statusListen": "127.0.0.1:7601",
  "updates": { "checkMs": 10000, "quietMs": 2000 },
  "sale": { "resultSeconds": 3 },
  "drivers": { "keypad": { "driver": "tty" }, "display": { "driver": "virtual", "width": 480, "height": 320 } }
}
JSON

echo; echo "== 1. setup.sh --relay --bundle A, the simulator, setup.sh --bundle A (terminal), pairing"
t=$(now)
/repo/scripts/setup.sh --relay --bundle /bundles/upg-a.tar.gz --release-key /keys/test.pub --non-interactive --skip-packages \
  --country TH --public-url http://127.0.0.1:8787 --omise-base-url "$SIM" --omise-secret-key skey_test_upgrade0000 \
  --omise-public-key pkey_test_upgrade0000 --webhook-secret "$WEBHOOK_SECRET" >/tmp/setup-relay.txt 2>&1
rc=$?
# The relay trusts one more release key than the devices: a key rotation half done. A bundle
# signed with it gets onto the relay; the terminal must refuse it (E, below).
cat /keys/test.pub /keys/other.pub >/etc/qrpos/relay-release-keys.pub
# shellcheck disable=SC2016 # JavaScript, not shell
node -e 'const fs=require("fs"),f=process.argv[1],c=JSON.parse(fs.readFileSync(f,"utf8"));c.releases={...(c.releases||{}),keysFile:"/etc/qrpos/relay-release-keys.pub"};fs.writeFileSync(f,JSON.stringify(c,null,2)+"\n")' "$RCFG"
systemctl restart qrpos-relay
for i in $(seq 1 50); do relay_ready && break; sleep 0.3; done
if [ $rc = 0 ] && relay_ready; then pass "relay A installed by setup.sh --bundle and ready (database schema $(relay_schema))"; else fail "relay install (exit $rc)"; tail -20 /tmp/setup-relay.txt; journalctl -u qrpos-relay --no-pager | tail -20; fi
mkdir -p /srv && cp -a /opt/qrpos/releases/upg-a /srv/qrpos-sim
systemd-run -q --unit=qrpos-test-sim /usr/bin/node /srv/qrpos-sim/scripts/qrpos.cjs sim --port 8790 --country TH \
  --public-key pkey_test_upgrade0000 --secret-key skey_test_upgrade0000 --webhook-url http://127.0.0.1:8787/webhooks/omise --webhook-secret "$WEBHOOK_SECRET"
for i in $(seq 1 50); do curl -sf --max-time 2 "$SIM/_sim/health" >/dev/null && break; sleep 0.3; done
curl -sf --max-time 2 "$SIM/_sim/health" >/dev/null && pass "Omise simulator up on $SIM" || { fail "simulator"; journalctl -u qrpos-test-sim --no-pager | tail; }
/repo/scripts/setup.sh --bundle /bundles/upg-a.tar.gz --release-key /keys/test.pub --non-interactive --skip-packages \
  --relay-url http://127.0.0.1:8787 --country TH --merchant-name "Upgrade Test" --supervisor-pin 4321 >/tmp/setup.txt 2>&1
rc=$?
tail -6 /tmp/setup.txt
code=""
for i in $(seq 1 100); do code=$(st 'j.link && j.link.pairingCode'); [ -n "$code" ] && break; sleep 0.3; done
/usr/local/bin/qrpos relay terminals approve "$code" --name till-1 --config "$RCFG"
for i in $(seq 1 100); do [ "$(st 'j.link.online && j.link.paired && j.state')" = idle ] && break; sleep 0.3; done
if [ $rc = 0 ] && [ "$(running_version)" = upg-a ] && [ "$(current)" = releases/upg-a ] && [ "$(st 'j.link.online && j.link.paired')" = true ]; then
  pass "terminal A installed by setup.sh --bundle, paired (code $code) and online ($(since "$t") s)"
else
  fail "terminal A install / pairing (exit $rc, running $(running_version), status $(status))"; cat /tmp/setup.txt; journalctl -u qrpos-terminal --no-pager | tail -30
fi
systemctl show qrpos-terminal -p ActiveState -p SubState -p StatusText -p NRestarts
S0=$(schema)
stage install

# The counter. A sale: keyed in, its QR on screen, paid at the simulator, PAID recorded.
SALES=0
idle_screen() {
  local i s
  for i in $(seq 1 100); do
    s=$(st j.state)
    [ "$s" = idle ] && return 0
    [ "$s" = result ] && press c
    sleep 0.2
  done
  return 1
}
# pay SALE_ID: marks its charge paid at the simulator and waits for PAID in the journal.
pay() {
  local charge i
  charge=$(q "SELECT charge_id FROM sales WHERE sale_id = '$1'")
  [ -n "$charge" ] || return 1
  curl -s -o /dev/null --max-time 5 -X POST "$SIM/_sim/charges/$charge/mark_as_paid"
  for i in $(seq 1 100); do [ "$(q "SELECT status FROM sales WHERE sale_id = '$1'")" = successful ] && return 0; sleep 0.1; done
  return 1
}
# key AMOUNT: keys a sale and waits for its QR; sets SALE.
key_sale() {
  local i
  SALE=""
  idle_screen || return 1
  press "$1"$'\n'
  for i in $(seq 1 100); do [ "$(st j.state)" = showing_qr ] && break; sleep 0.1; done
  SALE=$(st 'j.currentSale && j.currentSale.saleId')
  [ -n "$SALE" ]
}
sell() {
  if key_sale "$1" && pay "$SALE" && idle_screen; then SALES=$((SALES + 1)); return 0; fi
  fail "a sale of $1 at the counter (sale ${SALE:-none}, state $(st j.state))"
  return 1
}
# sale_through_upgrade AMOUNT, the moment the terminal has handed a bundle to the upgrader: a
# sale keyed then is on screen when the upgrade holds new sales. The hold waits for it (its QR
# stays up); it is paid; keys pressed while its result shows under the hold start nothing; then
# the upgrade goes on. Every step a check.
sale_through_upgrade() {
  local i n0 sale up
  up() { [ "$(systemctl show -p ActiveState --value qrpos-upgrade.service)" = activating ]; }
  for i in $(seq 1 1200); do up && break; sleep 0.1; done
  up || { fail "the terminal never handed the bundle over (qrpos-upgrade.service not started)"; return 1; }
  if ! key_sale "$1"; then fail "a sale keyed as the upgrade began (state $(st j.state))"; return 1; fi
  sale=$SALE
  for i in $(seq 1 200); do status | grep -q '"hold":{' && break; sleep 0.1; done
  if status | grep -q '"hold":{' && [ "$(st 'j.currentSale && j.currentSale.saleId')" = "$sale" ] && [ "$(st j.state)" = showing_qr ]; then
    pass "the upgrade holds new sales while a sale is on screen: its QR stays up ($sale)"
  else fail "hold with a sale on screen: state $(st j.state), hold $(st j.hold)"; fi
  if pay "$sale"; then SALES=$((SALES + 1)); else fail "the sale on screen could not be paid during the hold"; fi
  n0=$(q 'SELECT count(*) FROM sales')
  press 7000$'\n'
  sleep 1
  if [ "$(q 'SELECT count(*) FROM sales')" = "$n0" ] && [ "$(st j.state)" != showing_qr ]; then
    pass "the sale paid under the hold; a sale keyed while its result showed, sales held, started nothing ($(st j.screen))"
  else fail "keys during the hold: $(q 'SELECT count(*) FROM sales') sales (was $n0), state $(st j.state)"; fi
}
snapshot() { q "SELECT sale_id || ' ' || status FROM sales ORDER BY sale_id" >"$1"; q "SELECT count(*) FROM sale_events" >>"$1.events"; }
# kept BEFORE: every sale in the snapshot still there, and none paid became anything else;
# the journal's event rows only grew.
kept() {
  local lost
  lost=$(comm -23 "$1" <(q "SELECT sale_id || ' ' || status FROM sales ORDER BY sale_id") | wc -l)
  [ "$lost" = 0 ] && [ "$(q 'SELECT count(*) FROM sale_events')" -ge "$(tail -1 "$1.events")" ]
}
# Every sale recorded was paid: none interrupted, stuck or failed; all synced with the relay.
all_paid() {
  local i
  for i in $(seq 1 100); do [ "$(st j.unsynced)" = 0 ] && break; sleep 0.2; done
  [ "$(q "SELECT count(*) FROM sales WHERE status <> 'successful'")" = 0 ] && [ "$(st j.unsynced)" = 0 ]
}
fleet() { /usr/local/bin/qrpos relay fleet --config "$RCFG" --json 2>/dev/null | jsel "j.find(t => t.name === 'till-1')$1"; }
# wait_report VERSION: until the fleet list has the terminal's report on VERSION (up to 4 min).
wait_report() {
  local i
  for i in $(seq 1 240); do [ "$(fleet "?.lastUpgrade?.version")" = "$1" ] && return 0; sleep 1; done
  return 1
}
# version_is V: the status endpoint, `qrpos status` and `qrpos version` agree.
version_is() {
  local i
  for i in $(seq 1 60); do [ "$(running_version)" = "$1" ] && break; sleep 0.5; done
  /usr/local/bin/qrpos version >/tmp/version.txt 2>&1
  /usr/local/bin/qrpos status >>/tmp/version.txt 2>&1 || true
  [ "$(running_version)" = "$1" ] && grep -q "^running:  $1 " /tmp/version.txt && grep -q "^current:  $1\$" /tmp/version.txt &&
    grep -q "^version:   $1\$" /tmp/version.txt
}
relay_sales() { sqlite3 -cmd '.timeout 5000' /var/lib/qrpos-relay/relay.db "SELECT count(*) FROM sales"; }

echo; echo "== 2. sales on A"
sell 2500 && sell 3100 && pass "2 sales on A, paid"
snapshot /tmp/snap-a

echo; echo "== 3. B to the fleet from the relay while a sale is on screen: the terminal waits for it"
/usr/local/bin/qrpos relay releases add /bundles/upg-b.tar.gz --config "$RCFG" && pass "relay: releases add B" || fail "releases add B"
key_sale 4200 && P=$SALE || fail "a sale on screen before the rollout"
t_roll=$(now)
/usr/local/bin/qrpos relay releases rollout upg-b --all --config "$RCFG" || fail "rollout B"
/usr/local/bin/qrpos relay releases list --config "$RCFG"
sleep 12 # at least one of the terminal's release checks (every 10 s here)
if [ "$(st j.state)" = showing_qr ] && [ "$(running_version)" = upg-a ] && [ -z "$(ls -A /var/lib/qrpos/upgrades/ready 2>/dev/null)" ] && [ "$(systemctl show -p ActiveState --value qrpos-upgrade.service)" != activating ]; then
  pass "with a sale on screen for 12 s after the rollout: nothing handed over, A still running, the sale's QR still up"
else fail "during a sale: state $(st j.state), running $(running_version), ready/ $(ls /var/lib/qrpos/upgrades/ready 2>/dev/null)"; fi
pay "$P" && SALES=$((SALES + 1)) || fail "paying the sale on screen during the rollout"
idle_screen
sale_through_upgrade 4400
if wait_report upg-b; then pass "the terminal reported its upgrade to B $(since "$t_roll") s after the rollout"; else fail "no report on B from the terminal"; fi
journalctl -u qrpos-upgrade --no-pager -o cat | tail -12
version_is upg-b && pass "B running: status endpoint, qrpos status and qrpos version say upg-b" || { fail "B not running"; cat /tmp/version.txt; }
[ "$(fleet "?.version")" = upg-b ] && [ "$(fleet "?.lastUpgrade?.outcome")" = upgraded ] && pass "qrpos relay fleet: till-1 runs upg-b, last upgrade upgraded" || fail "fleet after B: $(fleet '')"
ls /var/lib/qrpos/backups/ | grep -q "^journal-$S0-" && pass "journal backed up before the switch: $(ls /var/lib/qrpos/backups/)" || fail "no journal backup"
sell 2600 && sell 2700 && pass "2 sales on B after the upgrade, paid"
kept /tmp/snap-a && pass "no journal entry lost over A -> B" || fail "journal entries lost over A -> B"
all_paid && pass "every sale paid and synced over A -> B: $(q 'SELECT count(*) FROM sales') sales" || { fail "sales not all paid/synced"; q "SELECT sale_id, amount, status FROM sales WHERE status <> 'successful'"; }
[ "$(q 'SELECT count(*) FROM sales')" = "$SALES" ] && pass "the journal holds exactly the $SALES sales made" || fail "the journal holds $(q 'SELECT count(*) FROM sales') sales, $SALES were made"
snapshot /tmp/snap-b
stage fleet-A-B

echo; echo "== 4. broken C from the relay: its self-test passes, its service exits at start -> rolled back to B"
/usr/local/bin/qrpos relay releases add /bundles/upg-c-exits.tar.gz --config "$RCFG" >/dev/null || fail "releases add C"
sell 2800 || true
t_roll=$(now)
/usr/local/bin/qrpos relay releases rollout upg-c-exits --all --config "$RCFG" >/dev/null || fail "rollout C"
sale_through_upgrade 4600
if wait_report upg-c-exits; then pass "the terminal reported on C $(since "$t_roll") s after the rollout"; else fail "no report on C"; fi
journalctl -u qrpos-upgrade --no-pager -o cat | grep -E 'rolled back|FAILED|after the failure' | tail -5
version_is upg-b && [ "$(current)" = releases/upg-b ] && pass "rolled back: B running (status endpoint, qrpos status, qrpos version)" || { fail "after C: running $(running_version), current $(current)"; cat /tmp/version.txt; }
[ "$(fleet "?.version")" = upg-b ] && [ "$(fleet "?.lastUpgrade?.outcome")" = rolled_back ] && pass "qrpos relay fleet: till-1 on upg-b, last upgrade upg-c-exits rolled_back ($(fleet '?.lastUpgrade?.detail' | cut -c1-160))" || fail "fleet after C: $(fleet '')"
relay_ready && pass "the relay (same machine, same release) is back on B and ready" || fail "relay not ready after C"
sleep 11 # a release check later (every 10 s): a version reported failing is not offered again
tries=$(grep -c "$(printf '\trollback\tupg-b\tupg-c-exits\t')" /opt/qrpos/history)
[ "$(current)" = releases/upg-b ] && [ "$(systemctl show -p ActiveState --value qrpos-upgrade.service)" != activating ] && [ "$tries" = 1 ] \
  && pass "C tried once: not again after its failure (reported before the terminal asks the relay again)" || fail "C tried $tries times"
sell 2900 && pass "a sale on B after the rollback, paid"
kept /tmp/snap-b && pass "no journal entry lost over B -> C -> B" || fail "journal entries lost over B -> C -> B"
all_paid && [ "$(q 'SELECT count(*) FROM sales')" = "$SALES" ] && pass "every sale paid and synced, $SALES in the journal as made" || fail "after C: $(q 'SELECT count(*) FROM sales') sales for $SALES made; not paid: $(q "SELECT count(*) FROM sales WHERE status <> 'successful'")"
stage fleet-C-rollback

echo; echo "== 5. E from the relay, signed with a key the relay trusts and the terminal does not -> refused"
/usr/local/bin/qrpos relay releases add /bundles/upg-e-untrusted.tar.gz --config "$RCFG" >/dev/null && pass "the relay (trusting the other key) took E" || fail "releases add E"
ls -la /opt/qrpos/ /opt/qrpos/releases/ >/tmp/before.txt
t_roll=$(now)
/usr/local/bin/qrpos relay releases rollout upg-e-untrusted --all --config "$RCFG" >/dev/null || fail "rollout E"
sell 3300 || true
if wait_report upg-e-untrusted; then pass "the terminal reported on E $(since "$t_roll") s after the rollout"; else fail "no report on E"; fi
ls -la /opt/qrpos/ /opt/qrpos/releases/ >/tmp/after.txt
detail=$(fleet '?.lastUpgrade?.detail')
if [ "$(fleet "?.lastUpgrade?.outcome")" = refused ] && printf '%s' "$detail" | grep -qi signature && version_is upg-b && diff -q /tmp/before.txt /tmp/after.txt >/dev/null \
  && [ -z "$(ls -A /var/lib/qrpos/upgrades/ready)" ]; then
  pass "E refused by the terminal ($detail); nothing handed over, nothing changed, B running"
else fail "E: outcome $(fleet '?.lastUpgrade?.outcome'), detail $detail, running $(running_version)"; diff /tmp/before.txt /tmp/after.txt; fi
sell 3400 && pass "a sale on B after the refusal, paid"
all_paid && [ "$(q 'SELECT count(*) FROM sales')" = "$SALES" ] && pass "in all: $SALES sales made, $SALES in the journal, all paid and synced; relay has $(relay_sales)" || fail "in all: $(q 'SELECT count(*) FROM sales') in the journal for $SALES made"
[ "$(relay_sales)" = "$SALES" ] && pass "the relay knows every sale ($SALES)" || fail "the relay has $(relay_sales) sales, $SALES made"
/usr/local/bin/qrpos relay fleet --config "$RCFG"
stage fleet-E-refused

# ---------------------------------------------------------------- part 2: by hand on the device
# From here on the terminal asks the relay for nothing it would act on: E is refused, C failed.
echo; echo "== 6. qrpos rollback (by hand) to A, then B again with Ctrl-C, SIGHUP and SIGTERM arriving"
/usr/local/bin/qrpos rollback 2>&1 | tee /tmp/last.txt; rc=${PIPESTATUS[0]}
if [ $rc = 3 ] && [ "$(running_version)" = upg-a ] && [ "$(current)" = releases/upg-a ]; then pass "rollback by hand to A (exit 3)"; else fail "rollback by hand (exit $rc, running $(running_version))"; fi
echo "TIME downtime-rollback-B-A $(grep -o 'sales stopped for [0-9.]* s' /tmp/last.txt | grep -o '[0-9.]*')"
t=$(now)
/usr/local/bin/qrpos upgrade /bundles/upg-b.tar.gz >/tmp/last.txt 2>&1 &
qpid=$!
sleep 0.8; kill -INT $qpid; sleep 0.3; kill -HUP $qpid; kill -TERM $qpid
wait $qpid; rc=$?; wall=$(since "$t")
cat /tmp/last.txt
if [ $rc = 0 ] && [ "$(running_version)" = upg-b ] && grep -q 'already installed, intact' /tmp/last.txt && grep -q 'SIGHUP ignored' /tmp/last.txt; then
  pass "A -> B again (B already installed: checked, not unpacked again; SIGINT, SIGHUP, SIGTERM during it ignored)"; else fail "A -> B again (exit $rc)"; fi
echo "TIME downtime-A-B-again $(grep -o 'sales stopped for [0-9.]* s' /tmp/last.txt | grep -o '[0-9.]*') wall $wall"

echo; echo "== 7. qrpos upgrade D (migrates the journal one schema up, exits before READY)"
before=$(schema)
upgrade /bundles/upg-d-migrates.tar.gz
if [ $rc = 3 ] && [ "$(running_version)" = upg-b ] && [ "$(schema)" = "$before" ] && grep -q "journal: upg-d-migrates had migrated it to schema $((before + 1)) and never reached READY" /tmp/last.txt; then
  pass "B -> D rolled back to B with the journal put back (schema $(schema)); sales kept: $(q 'SELECT count(*) FROM sales')"; else fail "B -> D (exit $rc, running $(running_version), schema $(schema))"; fi
aside=$(ls /var/lib/qrpos/backups/*.replaced.sqlite 2>/dev/null | head -1)
[ -n "$aside" ] && [ "$(sqlite3 "$aside" 'PRAGMA user_version')" = $((before + 1)) ] && pass "the migrated journal is kept: $aside (schema $((before + 1)))" || fail "no migrated journal kept"
echo "TIME rollback-D $(grep -o '[0-9.]* s after the failure was seen' /tmp/last.txt | grep -o '^[0-9.]*') wall $wall"
kept /tmp/snap-b && all_paid && pass "no journal entry lost over B -> D -> B" || fail "journal entries lost over D"

echo; echo "== 8. qrpos upgrade E by hand (signed by a key the device does not trust)"
ls -la /opt/qrpos/ /opt/qrpos/releases/ >/tmp/before.txt
upgrade /bundles/upg-e-untrusted.tar.gz
ls -la /opt/qrpos/ /opt/qrpos/releases/ >/tmp/after.txt
if [ $rc = 1 ] && grep -q 'refused: .*signature' /tmp/last.txt && [ "$(running_version)" = upg-b ] && diff -q /tmp/before.txt /tmp/after.txt >/dev/null; then
  pass "E refused (untrusted signature), nothing changed"; else fail "E (exit $rc)"; diff /tmp/before.txt /tmp/after.txt; fi

echo; echo "== 9. qrpos upgrade F (never READY), with --ready-timeout 15"
upgrade /bundles/upg-f-hangs.tar.gz --ready-timeout 15
if [ $rc = 3 ] && [ "$(running_version)" = upg-b ] && grep -q 'FAILED: upg-f-hangs, qrpos-terminal: not READY and healthy within 15.0 s' /tmp/last.txt; then pass "B -> F rolled back to B after the deadline"; else fail "B -> F (exit $rc, running $(running_version))"; fi
echo "TIME rollback-F $(grep -o '[0-9.]* s after the failure was seen' /tmp/last.txt | grep -o '^[0-9.]*') wall $wall"

echo; echo "== 10. qrpos upgrade H (the relay migrates its database, then exits before READY)"
rbefore=$(relay_schema)
upgrade /bundles/upg-h-relay-migrates.tar.gz
if [ $rc = 3 ] && relay_ready && [ "$(relay_schema)" = "$rbefore" ] && [ "$(running_version)" = upg-b ] && grep -q 'relay database: upg-h-relay-migrates had migrated it to schema' /tmp/last.txt; then
  pass "B -> H rolled back to B with the relay database put back (schema $(relay_schema))"; else fail "B -> H (exit $rc, relay schema $(relay_schema), running $(running_version))"; fi
raside=$(ls /var/lib/qrpos-relay/backups/*.replaced.sqlite 2>/dev/null | head -1)
[ -n "$raside" ] && [ "$(sqlite3 "$raside" 'PRAGMA user_version')" = $((rbefore + 1)) ] && pass "the migrated relay database is kept: $raside" || fail "no migrated relay database kept"
echo "TIME rollback-H $(grep -o '[0-9.]* s after the failure was seen' /tmp/last.txt | grep -o '^[0-9.]*') wall $wall"
[ "$(relay_sales)" = "$SALES" ] && pass "the relay still knows every sale ($SALES)" || fail "the relay has $(relay_sales) sales after H, $SALES made"

echo; echo "== 11. qrpos upgrade G (migrates the journal, READY, never ready to sell), --ready-timeout 10"
upgrade /bundles/upg-g-never-ready.tar.gz --ready-timeout 10
if [ $rc = 4 ] && [ "$(current)" = releases/upg-g-never-ready ] && [ "$(schema)" = $((S0 + 1)) ] && grep -q 'NOT rolled back: upg-g-never-ready failed' /tmp/last.txt; then
  pass "B -> G not rolled back (G reached READY after migrating the journal): exit 4, G current, journal schema $((S0 + 1)) untouched"; else fail "B -> G (exit $rc, current $(current), schema $(schema))"; fi
for i in $(seq 1 50); do [ "$(running_version)" = upg-g-never-ready ] && break; sleep 0.3; done
[ "$(running_version)" = upg-g-never-ready ] && pass "G started again" || fail "G not running after the refusal to roll back"

echo; echo "== 12. qrpos rollback to B: the schema-$S0 backup put back (no sale since); G again, a sale on G, rollback refused"
/usr/local/bin/qrpos rollback 2>&1 | tee /tmp/last.txt; rc=${PIPESTATUS[0]}
if [ $rc = 3 ] && [ "$(running_version)" = upg-b ] && [ "$(schema)" = "$S0" ] && grep -q 'will be put back (nothing recorded since it)' /tmp/last.txt; then
  pass "rollback by hand to B with the journal backup put back"; else fail "rollback to B (exit $rc, running $(running_version), schema $(schema))"; fi
kept /tmp/snap-b && all_paid && [ "$(q 'SELECT count(*) FROM sales')" = "$SALES" ] && pass "the backup put back holds every sale ($SALES)" || fail "sales lost by the rollback to B: $(q 'SELECT count(*) FROM sales') for $SALES"
upgrade /bundles/upg-g-never-ready.tar.gz --ready-timeout 5
[ $rc = 4 ] && [ "$(schema)" = $((S0 + 1)) ] || fail "G again (exit $rc, schema $(schema))"
q "INSERT INTO sales (sale_id, ref, amount, currency, status, created_at, updated_at) VALUES ('SALE_made_on_g', 9999, 4000, 'THB', 'successful', datetime('now'), datetime('now'))"
ls -la /opt/qrpos/ /opt/qrpos/releases/ >/tmp/before.txt
/usr/local/bin/qrpos rollback 2>&1 | tee /tmp/last.txt; rc=${PIPESTATUS[0]}
ls -la /opt/qrpos/ /opt/qrpos/releases/ >/tmp/after.txt
if [ $rc = 1 ] && grep -q 'holds 1 sale made since the newest backup' /tmp/last.txt && [ "$(schema)" = $((S0 + 1)) ] && [ "$(current)" = releases/upg-g-never-ready ] && diff -q /tmp/before.txt /tmp/after.txt >/dev/null \
  && [ "$(q "SELECT count(*) FROM sales WHERE sale_id = 'SALE_made_on_g'")" = 1 ]; then
  pass "rollback refused: a sale made since the backup would be lost; nothing changed"; else fail "rollback with a sale since the backup (exit $rc)"; fi
stage by-hand

# ---------------------------------------------------------------- part 3: the hardened units here
echo; echo "== 13. the units under this systemd: READY from the daemon, the watchdog, systemd-analyze security"
echo "$(/usr/lib/systemd/systemd --version | head -1); cgroup: $(stat -fc %T /sys/fs/cgroup)"
show() { systemctl show qrpos-terminal -p "$1" --value; }
# READY=1 reached systemd from the daemon's own process (Type=notify, NotifyAccess=main).
if [ "$(show Type)" = notify ] && [ "$(show NotifyAccess)" = main ] && [ "$(show SubState)" = running ] && [ "$(cat "/proc/$(show MainPID)/comm")" = node ]; then
  pass "qrpos-terminal READY through the notify socket from its main process (node, pid $(show MainPID)): $(show StatusText)"
else fail "terminal not READY by notify: $(show Type)/$(show NotifyAccess)/$(show SubState)"; fi
wd=$(journalctl -u qrpos-terminal -u qrpos-relay --no-pager | grep -c 'Watchdog timeout')
[ "$wd" = 0 ] && pass "the watchdog ($(show WatchdogUSec)) never fired in this whole run" || fail "the watchdog fired $wd times"
# A blocked event loop: the watchdog (4 s here, by a drop-in) fires, systemd restarts the service.
mkdir -p /etc/systemd/system/qrpos-terminal.service.d
printf '[Service]\nWatchdogSec=4\nLimitCORE=0\n' >/etc/systemd/system/qrpos-terminal.service.d/test-watchdog.conf
systemctl daemon-reload && systemctl restart qrpos-terminal
before=$(show NRestarts); pid=$(show MainPID)
sleep 6
[ "$(show MainPID)" = "$pid" ] && pass "WatchdogSec=4: the daemon's pings keep it alive (same pid after 6 s)" || fail "restarted without a block (pid $pid -> $(show MainPID))"
t=$(now)
kill -STOP "$pid"
for i in $(seq 1 100); do [ "$(show NRestarts)" -gt "$before" ] && [ "$(show SubState)" = running ] && [ "$(show MainPID)" != "$pid" ] && break; sleep 0.2; done
if [ "$(show NRestarts)" -gt "$before" ] && [ "$(show SubState)" = running ] && journalctl -u qrpos-terminal --no-pager | grep -q 'Watchdog timeout'; then
  pass "the event loop blocked (SIGSTOP): the watchdog fired and the service was READY again $(since "$t") s later"
else fail "the watchdog did not restart a blocked daemon (restarts $(show NRestarts), state $(show SubState))"; fi
rm /etc/systemd/system/qrpos-terminal.service.d/test-watchdog.conf
systemctl daemon-reload && systemctl restart qrpos-terminal
score() { systemd-analyze security "$1" 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p'; }
ts=$(score qrpos-terminal.service); rs=$(score qrpos-relay.service)
echo "SECURITY terminal $ts relay $rs"
awk -v t="$ts" -v r="$rs" 'BEGIN { exit !(t != "" && r != "" && t <= 3.0 && r <= 2.5) }' && pass "systemd-analyze security: terminal $ts (<= 3.0), relay $rs (<= 2.5)" || fail "security scores: terminal $ts, relay $rs"
stage units
echo; echo "== qrpos version"
/usr/local/bin/qrpos version
echo; echo "== /opt/qrpos/history"; cat /opt/qrpos/history
echo; echo "CHECKS DONE: $fails failed"
systemctl poweroff

#!/usr/bin/env bash
# Checks src/shared/service.ts under a real systemd: a minimal Debian root booted with
# `systemd-nspawn -b` runs a Type=notify, NotifyAccess=main, WatchdogSec=3 unit whose node
# process uses SystemdNotifier. Expected: the unit starts (READY=1 accepted from the main
# process), shows its STATUS=, stays active for 8 s (pets accepted), and when its event loop
# is blocked systemd kills it with Result=watchdog. Needs root, debootstrap, systemd-container
# and Debian's archive (about 2.5 min for the root the first time; 20 s a run after that).
# Usage: src/shared/testing/systemd-notify-nspawn.sh [WORKDIR]   (default /var/tmp/qrpos-nspawn)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../../.." && pwd)
W=${1:-/var/tmp/qrpos-nspawn}
R=$W/root
mkdir -p "$W/opt" "$W/results"
[ -x "$R/lib/systemd/systemd" ] || debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus bookworm "$R" http://deb.debian.org/debian >"$W/debootstrap.log"
cat >"$W/opt/wd.ts" <<TS
import { createLogger } from '$REPO/src/shared/log';
import { notifyReady } from '$REPO/src/shared/service';
const log = createLogger({ level: 'info', component: 'wd' });
notifyReady(log, 'running (pid ' + process.pid + ')');
process.on('SIGUSR1', () => {
  log.info('blocking the event loop for 12 s');
  const end = Date.now() + 12_000;
  while (Date.now() < end) { /* blocked */ }
});
setInterval(() => undefined, 1 << 30);
TS
node -e "require('$REPO/node_modules/esbuild').buildSync({entryPoints:['$W/opt/wd.ts'],bundle:true,platform:'node',target:'node20',format:'cjs',outfile:'$W/opt/wd.js',external:['koffi']})"
cat >"$R/etc/systemd/system/wd.service" <<UNIT
[Service]
Type=notify
NotifyAccess=main
WatchdogSec=3
Environment=NODE_PATH=$REPO/node_modules
ExecStart=/usr/bin/node /opt/wd/wd.js
UNIT
cat >"$R/etc/systemd/system/qrpos-check.service" <<UNIT
[Unit]
After=multi-user.target
[Service]
Type=oneshot
ExecStart=/opt/wd/check.sh
UNIT
ln -sf /etc/systemd/system/qrpos-check.service "$R/etc/systemd/system/multi-user.target.wants/qrpos-check.service"
cat >"$W/opt/check.sh" <<'SH'
#!/bin/sh
exec >/results/out.txt 2>&1
systemctl start wd.service && echo "started"
sleep 8
systemctl show wd.service -p ActiveState -p Result -p StatusText -p NotifyAccess -p WatchdogUSec
kill -USR1 "$(systemctl show -p MainPID --value wd.service)"
sleep 8
systemctl show wd.service -p ActiveState -p Result
systemctl poweroff
SH
chmod +x "$W/opt/check.sh"
rm -f "$W/results/out.txt"
# No systemd on the host (a CI container): no machined registration, no scope unit, and
# nspawn's propagation folder on a tmpfs.
if [ ! -S /run/dbus/system_bus_socket ] && ! mountpoint -q /run/systemd/nspawn; then
  mkdir -p /run/systemd/nspawn && mount -t tmpfs tmpfs /run/systemd/nspawn
fi
timeout 150 systemd-nspawn -q --keep-unit --register=no -D "$R" -b --bind-ro=/usr/bin/node --bind-ro="$REPO" \
  --bind-ro="$W/opt:/opt/wd" --bind="$W/results:/results" >"$W/nspawn.log" 2>&1
cat "$W/results/out.txt"
grep -q '^started' "$W/results/out.txt" && grep -q 'StatusText=running' "$W/results/out.txt" \
  && [ "$(grep -c '^ActiveState=active' "$W/results/out.txt")" = 1 ] && grep -q '^Result=watchdog' "$W/results/out.txt" \
  && echo "PASS: READY/STATUS accepted, pets kept it up, a blocked loop ended in Result=watchdog" && exit 0
echo "FAIL: see $W/results/out.txt and $W/nspawn.log" >&2
exit 1

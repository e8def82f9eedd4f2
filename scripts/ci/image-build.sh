#!/usr/bin/env bash
# setup.sh as an image build runs it (pi-gen, sdm): for real, as root through sudo, inside a
# chroot with no systemd or udev running. Checks that it installs and enables the terminal
# without starting it, warns about udev instead of failing, that a --node-modules install is
# not rebuilt by the next run, and that --uninstall --purge leaves the system as it was.
#
#   scripts/ci/image-build.sh      in a built checkout, inside a throwaway chroot (it installs
#                                  for real: scripts/ci/debian13.sh runs it in its Debian 13 root)
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS=0
fail() { echo "image-build: FAILED: $*" >&2; exit 1; }
[ -d /run/systemd/system ] && [ "$(stat -c %d:%i /)" = "$(sudo stat -c %d:%i /proc/1/root/.)" ] &&
  fail "this system runs systemd: run this only inside a throwaway chroot (it installs qrpos for real)"
[ -f dist/src/cli/main.js ] || fail "not built: run scripts/bootstrap.sh first"

# udevadm present but no udev daemon, as in an image build.
command -v udevadm >/dev/null || sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends udev >/dev/null

snapshot() { # every path under the system's own directories, with type, mode and owner
  sudo find /etc /opt /usr/local /var/lib /var/log /boot -xdev \
    \( -path /var/lib/apt -o -path /var/lib/dpkg -o -path /var/log/apt -o -path /var/lib/systemd/deb-systemd-helper-enabled \) -prune -o \
    ! -name 'dpkg.log' ! -name '*-' -printf '%p %y %m %u:%g\n' 2>/dev/null | sort
}
accounts() { sudo cat /etc/passwd /etc/group /etc/shadow /etc/gshadow; }
snapshot >/tmp/image-build.before; accounts >/tmp/image-build.accounts

# curl is one of setup.sh's packages that a minimal Debian lacks: apt's output must go to the log.
curl_missing=0; dpkg-query -W -f='${Status}' curl 2>/dev/null | grep -q 'install ok installed' || curl_missing=1
FLAGS=(--non-interactive --relay-url https://relay.example.com --country TH --merchant-name "Image Shop"
       --profile pi-hdmi-800x480-usb-numpad --keypad-vid 1c4f --keypad-pid 0002 --supervisor-pin 590271)
sudo scripts/setup.sh "${FLAGS[@]}" --node-modules node_modules >/tmp/image-build.out 2>/tmp/image-build.err ||
  { cat /tmp/image-build.out /tmp/image-build.err; fail "setup.sh exited $? in the chroot"; }
grep -q 'not starting qrpos-terminal.service: no running systemd' /tmp/image-build.out || fail "it did not say it does not start the service"
grep -q 'udev is not running here' /tmp/image-build.err || fail "no udev warning"
[ "$(readlink /etc/systemd/system/multi-user.target.wants/qrpos-terminal.service)" = /etc/systemd/system/qrpos-terminal.service ] ||
  fail "qrpos-terminal.service is not enabled"
[ -f /opt/qrpos/current/node_modules/.qrpos-installed ] || fail "no node_modules stamp after --node-modules"
[ "$(sudo stat -c '%a %U' /etc/qrpos/terminal.secrets.json)" = "600 root" ] || fail "terminal.secrets.json is not root 0600"
if [ "$curl_missing" = 1 ]; then
  sudo grep -q 'Setting up curl' /var/log/qrpos-setup.log || fail "apt's output is not in the log"
  ! grep -q 'Setting up' /tmp/image-build.out /tmp/image-build.err || fail "apt's output reached the screen"
  echo "image-build: apt installed curl, its output in the log only"
fi
echo "image-build: installed and enabled, not started, udev warned ($SECONDS s)"

# The next run without --node-modules keeps the copied modules (no npm ci) and changes nothing.
sudo scripts/setup.sh "${FLAGS[@]}" >/tmp/image-build.out 2>&1 || { cat /tmp/image-build.out; fail "second run failed"; }
grep -q 'node_modules: unchanged' /tmp/image-build.out || { cat /tmp/image-build.out; fail "second run rebuilt node_modules"; }
grep -q 'done: everything was already in place (unchanged)' /tmp/image-build.out || { cat /tmp/image-build.out; fail "second run changed something"; }
echo "image-build: second run unchanged ($SECONDS s)"

sudo /opt/qrpos/current/scripts/setup.sh --uninstall --purge >/tmp/image-build.out 2>&1 || { cat /tmp/image-build.out; fail "--uninstall --purge failed"; }
snapshot >/tmp/image-build.after
diff -u /tmp/image-build.before /tmp/image-build.after || fail "--purge left the paths above behind"
accounts | diff -u /tmp/image-build.accounts - >/dev/null || fail "--purge left accounts behind"
echo "image-build: --uninstall --purge left nothing behind ($SECONDS s)"

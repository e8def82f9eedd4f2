#!/bin/bash
# install-guest.sh BUNDLE KEY ROOT [SETUP FLAGS...]: `scripts/setup.sh --bundle BUNDLE` inside the
# device-test guest (Debian's kernel under QEMU, the host's node, see README.md), into a copy of the
# scratch root ROOT, with the same flags the host side used. The guest times it itself (its own
# clock, /proc/uptime) and says how busy its CPUs were; the last line printed is
#   guest-install rc=<exit status> seconds=<wall> cpu=<busy share of the guest's CPUs>
#                 qemu_host_cores=<host CPU QEMU got ÷ boot wall> boot_seconds=<boot to power-off> version=...
# Used by scripts/bench/install.ts (npm run bench -- install); the flags must have no spaces.
# env: EMU_ACCEL=tcg (as the device test; kvm where /dev/kvm exists), EMU_DIR=<repo>/.emu
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
EMU=${EMU_DIR:-$REPO/.emu}
BUNDLE=$(realpath "$1") KEY=$(realpath "$2") ROOT=$(realpath "$3")
shift 3
export PATH=$PATH:/usr/sbin:/sbin
# shellcheck source=scripts/device-test/arch.sh
. "$HERE/arch.sh"
command -v "$EMU_QEMU" >/dev/null || { echo "install-guest: $EMU_QEMU missing (apt-get install $EMU_QEMU_PKG)" >&2; exit 1; }
emu_fetch_kernel "$EMU"  # sets KV and KROOT
# The device test's initramfs (busybox, node and the libraries of the native addons, dist/)...
"$HERE/mkinitramfs.sh" "$REPO" "$KROOT" "$EMU/initrd-$KV.cpio" >/dev/null
# ...and, appended (the kernel unpacks one archive after the other), what the installer needs:
# bash and the account tools setup.sh runs, the installer, the bundle, its key, the scratch root.
X=$(mktemp -d)
trap 'rm -rf "$X"' EXIT
mkdir -p "$X/bench" "$X/app" "$X/usr/local/bin"
cp "$HERE/guest/install-init" "$X/init"
cp -a "$REPO/scripts" "$X/app/scripts"
cp "$BUNDLE" "$X/bench/bundle.tar.gz"
cp "$KEY" "$X/bench/key.pub"
cp -a "$ROOT" "$X/bench/root"
printf '%s\n' "$*" > "$X/bench/args"
for tool in bash useradd groupadd usermod getent install flock chown chmod stat; do
  p=$(command -v "$tool") || continue
  cp -L "$p" "$X/usr/local/bin/$tool"
  ldd "$p" 2>/dev/null | awk '/=> \//{print $3} /^\t\//{print $1}'
done | sort -u | while read -r lib; do mkdir -p "$X$(dirname "$lib")"; cp -L "$lib" "$X$lib"; done
# useradd/groupadd --prefix read these from the host side of their own root.
mkdir -p "$X/etc"
[ ! -f /etc/login.defs ] || cp /etc/login.defs "$X/etc/"
(cd "$X" && find . | cpio -o -H newc --quiet) > "$EMU/install-extra.cpio"
cat "$EMU/initrd-$KV.cpio" "$EMU/install-extra.cpio" > "$EMU/install-initrd.cpio"

case $EMU_DEBARCH in amd64) console=ttyS0 ;; *) console=ttyAMA0 ;; esac
log=$EMU/install-guest.log
# QEMU's own CPU time on this host (bash's `times`, children's line) over the boot's wall time: how
# many of this host's cores the emulator got (up to 2 for 2 vCPUs; less: the host took them).
boot0=$(date +%s.%N)
qemu_times=$(LOG=$log bash -c '"$@" >"$LOG" 2>&1; times' _ timeout 900 "$EMU_QEMU" -machine "$EMU_MACHINE" -accel "${EMU_ACCEL:-tcg}" -cpu "$EMU_CPU" -smp 2 -m 1024 \
  -kernel "$KROOT/boot/vmlinuz-$KV" -initrd "$EMU/install-initrd.cpio" \
  -append "console=$console panic=-1 quiet" -nographic -no-reboot 2>/dev/null | tail -1) || true
boot1=$(date +%s.%N)
line=$(grep -a 'T_INSTALL ' "$log" | tail -1 | tr -d '\r')
[ -n "$line" ] || { echo "install-guest: the guest reported no install (console log: $log)" >&2; tail -20 "$log" >&2; exit 1; }
grep -a '^SETUP: ' "$log" | tr -d '\r' | tail -5 >&2
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" ${line#T_INSTALL }"; }
rc=$(field rc) seconds=$(field seconds) busy_ticks=$(field busy_ticks) hz=$(field hz) cpus=$(field cpus) version=$(field version)
cpu=$(awk -v t="$busy_ticks" -v s="$seconds" -v hz="$hz" -v n="$cpus" 'BEGIN { d = s * hz * n; printf "%.2f", (d > 0 ? t / d : 0) }')
host_cores=$(awk -v t="$qemu_times" -v a="$boot0" -v b="$boot1" 'BEGIN { n = split(t, p, /[ ms]+/); c = p[1] * 60 + p[2] + p[3] * 60 + p[4]; printf "%.2f", (b > a ? c / (b - a) : 0) }')
echo "guest-install rc=$rc seconds=$seconds cpu=$cpu qemu_host_cores=$host_cores boot_seconds=$(awk -v a="$boot0" -v b="$boot1" 'BEGIN { printf "%.1f", b - a }') version=$version"

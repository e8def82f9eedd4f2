#!/bin/bash
# build-gpio-sim.sh KV OUTDIR
# Debian's kernels ship without gpio-sim (CONFIG_GPIO_SIM and CONFIG_IRQ_SIM are not set), so
# build irq_sim.ko and gpio-sim.ko out of tree from Debian's own linux-source against the
# matching linux-headers (for the host's architecture, which is the guest's). Installs
# linux-headers-KV, gcc, make when missing: as root, or through sudo for anyone else.
set -euo pipefail
KV=$1 OUT=$(mkdir -p "$2" && cd "$2" && pwd)
SER=$(echo "$KV" | cut -d. -f1,2)
[ -f "$OUT/gpio-sim.ko" ] && [ -f "$OUT/irq_sim.ko" ] && { echo "gpio-sim: cached in $OUT"; exit 0; }
lock=(); command -v flock >/dev/null && lock=(flock /tmp/apt.lock)
if ! declare -F as_root >/dev/null; then  # run on its own, not from run.sh
  as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
fi
# linux-headers puts the build link in /lib/modules (/usr/lib/modules on a merged-/usr system: the same).
BUILD=/lib/modules/$KV/build
[ -d "$BUILD" ] || [ ! -d "/usr/lib/modules/$KV/build" ] || BUILD=/usr/lib/modules/$KV/build
missing=()
[ -d "$BUILD" ] || missing+=("linux-headers-$KV")
command -v gcc >/dev/null || missing+=(gcc)
command -v make >/dev/null || missing+=(make)
command -v xz >/dev/null || missing+=(xz-utils)
if [ ${#missing[@]} -gt 0 ]; then
  as_root env DEBIAN_FRONTEND=noninteractive "${lock[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ -d "$BUILD" ] || BUILD=/usr/lib/modules/$KV/build
fi
PKGS=$(dirname "$OUT")/pkgs
mkdir -p "$PKGS"
ls "$PKGS"/linux-source-"${SER}"_*.deb >/dev/null 2>&1 || (cd "$PKGS" && apt-get download "linux-source-$SER" 2>&1 | grep -v unsandboxed || true)
rm -rf "$OUT.tmp" && mkdir -p "$OUT.tmp"
dpkg --fsys-tarfile "$PKGS"/linux-source-"${SER}"_*.deb | tar -xO "./usr/src/linux-source-$SER.tar.xz" |
  tar -xJ -C "$OUT.tmp" --strip-components=3 --wildcards \
    "linux-source-$SER/drivers/gpio/gpio-sim.c" "linux-source-$SER/drivers/gpio/gpiolib.h" "linux-source-$SER/kernel/irq/irq_sim.c"
# irq_to_desc() is not exported to modules in 6.1; generic_handle_irq() does the same job here.
sed -i 's/handle_simple_irq(irq_to_desc(irqnum));/generic_handle_irq(irqnum);/' "$OUT.tmp/irq_sim.c"
printf '\n#include <linux/module.h>\nMODULE_LICENSE("GPL");\n' >> "$OUT.tmp/irq_sim.c"
echo 'obj-m += irq_sim.o gpio-sim.o' > "$OUT.tmp/Kbuild"
make -s -C "$BUILD" M="$OUT.tmp" modules 2>&1 | grep -v 'Skipping BTF' || true
[ -f "$OUT.tmp/gpio-sim.ko" ] && [ -f "$OUT.tmp/irq_sim.ko" ] || { echo "gpio-sim: module build failed" >&2; exit 1; }
rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
echo "gpio-sim: built $OUT/{irq_sim,gpio-sim}.ko"

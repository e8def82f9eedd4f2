#!/bin/bash
# mkinitramfs.sh REPO KROOT OUT [EXTRA_KO_DIR]
# Packs busybox, the kernel modules the guest needs (with their dependencies), the host's node,
# every shared library node and the native addons load (found with ldd), a font, the compiled
# app (REPO/dist) and only the node_modules it needs into an uncompressed newc cpio.
# KROOT/lib/modules may be a link to KROOT/usr/lib/modules (Trixie's merged /usr, see run.sh).
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin  # depmod, modprobe
REPO=$(realpath "$1") KROOT=$(realpath "$2") OUT=$3 EXTRA=${4:-}
HERE=$(cd "$(dirname "$0")" && pwd)
KV=$(ls "$KROOT/lib/modules")
[ -f "$KROOT/lib/modules/$KV/modules.dep" ] || depmod -b "$KROOT" "$KV"
R=$(mktemp -d)
trap 'rm -rf "$R"' EXIT
mkdir -p "$R"/{bin,sbin,usr/bin,usr/lib,proc,sys,dev,tmp,etc/fonts,app,usr/share/fonts,lib/modules/$KV}
ln -s ../../lib/modules "$R/usr/lib/modules"  # for a depmod whose module directory is /usr/lib/modules
cp /bin/busybox "$R/bin/busybox"
for a in $(/bin/busybox --list | grep -vx busybox); do ln -sf busybox "$R/bin/$a"; done
cp "$HERE/guest/init" "$R/init"

# Kernel modules: USB host + HID (hidraw), the bochs and cirrus DRM drivers with their fbdev
# emulation, configfs (gpio-sim), the PCI 16550 (arm64's pole display). Built-in ones print nothing.
for m in xhci-pci usbhid hid-generic bochs cirrus configfs 8250_pci; do
  modprobe -d "$KROOT" -S "$KV" --show-depends $m 2>/dev/null | awk '$1=="insmod"{print $2}'
done | sort -u | while read -r f; do
  rel=${f#"$KROOT"/}; rel=${rel#usr/}  # always lib/modules/… in the guest (busybox modprobe looks there)
  mkdir -p "$R/$(dirname "$rel")"; cp "$f" "$R/$rel"
done
cp "$KROOT/lib/modules/$KV"/modules.{order,builtin,builtin.modinfo} "$R/lib/modules/$KV/"
if [ -n "$EXTRA" ]; then mkdir -p "$R/lib/modules/$KV/extra" && cp "$EXTRA"/*.ko "$R/lib/modules/$KV/extra/"; fi  # gpio-sim, irq_sim
depmod -b "$R" "$KV"

# The app: compiled output and the runtime packages it loads in the guest.
cp -a "$REPO/dist" "$R/app/dist"
cp "$REPO/package.json" "$R/app/"
python3 "$HERE/node-deps.py" "$REPO" canvas node-hid qrcode zod serialport onoff | while read -r p; do
  mkdir -p "$R/app/$(dirname "$p")"; cp -a "$REPO/$p" "$R/app/$p"
done
rm -rf "$R/app/node_modules/canvas/build/Release/obj.target" "$R/app/node_modules/canvas/build/Release/.deps"

# node + shared libraries of node and of every native addon (canvas pulls in cairo, pango, ...).
strip -o "$R/usr/bin/node" "$(command -v node)"
{ ldd "$(command -v node)"; find "$R/app/node_modules" -name '*.node' -exec ldd {} \; ; } 2>/dev/null |
  awk '/=> \//{print $3} /^\t\/lib|^\t\/usr/{print $1}' | sort -u | while read -r lib; do
  mkdir -p "$R$(dirname "$lib")"; cp -L "$lib" "$R$lib"
done
LDSO=${EMU_LDSO:-/lib64/ld-linux-x86-64.so.2}  # the program interpreter (arch.sh)
[ -e "$R$LDSO" ] || { mkdir -p "$R$(dirname "$LDSO")"; cp -L "$LDSO" "$R$LDSO"; }
# Debian's own nodejs (libnode) loads some builtins (acorn, cjs-module-lexer, undici) from
# /usr/share/nodejs instead of carrying them: bring the packages it names. NodeSource's names none.
LIBNODE=$(ldd "$(command -v node)" | awk '/libnode\.so/{print $3}')
# shellcheck source=scripts/device-test/arch.sh
. "$HERE/arch.sh"
emu_node_builtin_dirs "$(command -v node)" ${LIBNODE:+"$LIBNODE"} | while read -r pkg; do
  [ -e "$pkg" ] || { echo "mkinitramfs: node names $pkg, which is missing on this host" >&2; continue; }
  mkdir -p "$R$(dirname "$pkg")"; cp -rL "$pkg" "$R$pkg"; echo "mkinitramfs: added $pkg (Debian's libnode)"
done

# One font and a minimal fontconfig, so pango finds glyphs for "THB 15.00".
cp /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf "$R/usr/share/fonts/"
cat > "$R/etc/fonts/fonts.conf" <<'XML'
<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig><dir>/usr/share/fonts</dir><cachedir>/tmp/fontconfig</cachedir></fontconfig>
XML

(cd "$R" && find . | cpio -o -H newc --quiet) > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "mkinitramfs: $OUT $(du -m "$OUT" | cut -f1) MiB"

#!/bin/bash
# Device test on a real Linux kernel under QEMU (software emulation, no KVM needed):
# the real HidKeypad and FramebufferDisplay drivers from dist/ run in a guest of the host's own
# architecture (x86_64: q35; arm64: virt) with a USB keyboard (/dev/hidraw0), a DRM framebuffer
# found by its name (bochs: 800x480 at 32 bpp; cirrus: 800x480 at 16 bpp, like a Pi's vc4drmfb),
# a serial pole display and gpio-sim (LED, buzzer); the host types an amount over QMP, reads the
# screen back with screendump and checks it (see README.md).
#
# usage: scripts/device-test/run.sh   (Debian 12 or 13, amd64 or arm64; as root, or as a user
#                                      with sudo, used only to install the Debian packages it lacks)
# env:   EMU_RUNS="bochs:0 bochs:90 cirrus:0"   the boots, as display:rotation (default; arm64
#                              hosts: "bochs:0 bochs:90", QEMU shows no cirrus picture on virt)
#        EMU_ROTATIONS="0 90"  older form: bochs at these rotations, then cirrus at 0 (x86_64)
#        EMU_SKIP_BUILD=1      use the existing dist/ instead of running `npm run build`
#        EMU_ACCEL=tcg         QEMU accelerator (kvm where available makes it faster)
#        EMU_GPIO=auto         gpio-sim for the LED/buzzer check: auto = build it, and if that fails
#                              say so and test without it; 1 = required; 0 = off
#        EMU_DIR=<repo>/.emu   cache for downloads, the extracted kernel, initramfs and run logs
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
EMU=${EMU_DIR:-$REPO/.emu}
# depmod and modprobe are in /usr/sbin (/sbin), which is not on a non-root user's PATH.
export PATH=$PATH:/usr/sbin:/sbin
mkdir -p "$EMU/pkgs"
SECONDS=0
stamp() { printf '[device-test %3ds] %s\n' "$SECONDS" "$*"; }
# shellcheck source=scripts/device-test/arch.sh
. "$HERE/arch.sh"
if [ -n "${EMU_RUNS:-}" ]; then RUNS=$EMU_RUNS
elif [ -n "${EMU_ROTATIONS:-}" ]; then RUNS="$(for r in $EMU_ROTATIONS; do printf 'bochs:%s ' "$r"; done)$(grep -o 'cirrus:0' <<<"$EMU_RUNS_DEFAULT" || true)"
else RUNS=$EMU_RUNS_DEFAULT; fi
stamp "host $(uname -m): $EMU_QEMU -machine $EMU_MACHINE, kernel $EMU_KPKG, boots: $RUNS"
# The host-specific selections for both architectures, checked without QEMU (about a second).
selftest=$("$HERE/selftest.sh" 2>&1) || { echo "$selftest" | grep -v PASS >&2; exit 1; }
stamp "$(tail -1 <<<"$selftest")"

export -f as_root  # arch.sh: root runs apt-get itself, anyone else through sudo
lock=(); command -v flock >/dev/null && lock=(flock /tmp/apt.lock)
apt_install() { as_root env DEBIAN_FRONTEND=noninteractive "${lock[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }
export -f apt_install

# ---- 1. host tools (Debian archive only)
need=()
command -v "$EMU_QEMU" >/dev/null || need+=("$EMU_QEMU_PKG")
[ -x /bin/busybox ] && file -L /bin/busybox 2>/dev/null | grep -q 'statically linked' || need+=(busybox-static)
command -v cpio >/dev/null || need+=(cpio)
command -v depmod >/dev/null || need+=(kmod)
command -v zbarimg >/dev/null || need+=(zbar-tools)
command -v strip >/dev/null || need+=(binutils)
command -v file >/dev/null || need+=(file)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf ] || need+=(fonts-dejavu-core)
if [ ${#need[@]} -gt 0 ]; then
  stamp "installing ${need[*]}"
  as_root "${lock[@]}" apt-get update -qq
  apt_install "${need[@]}"
fi
stamp "host tools: $("$EMU_QEMU" --version | head -1)"

# ---- 2. guest kernel: Debian's current kernel for this architecture, extracted (nothing is installed)
emu_fetch_kernel "$EMU"  # sets KV and KROOT
stamp "kernel $KV"

# ---- 3. the app, compiled
if [ "${EMU_SKIP_BUILD:-}" != 1 ]; then
  (cd "$REPO" && npm run -s build) || { echo "device-test: npm run build failed (EMU_SKIP_BUILD=1 uses the existing dist/)" >&2; exit 1; }
fi
[ -f "$REPO/dist/scripts/device-test/guest.js" ] || { echo "device-test: $REPO/dist/scripts/device-test/guest.js missing: run npm run build" >&2; exit 1; }
stamp "app built"

# ---- 4. gpio-sim modules (Debian's kernel lacks them), built once and cached
GPIO=${EMU_GPIO:-auto} GPIODIR=
if [ "$GPIO" != 0 ]; then
  if "$HERE/build-gpio-sim.sh" "$KV" "$EMU/gpiosim-$KV"; then
    GPIODIR=$EMU/gpiosim-$KV
  elif [ "$GPIO" = 1 ]; then
    echo "device-test: gpio-sim build failed and EMU_GPIO=1" >&2; exit 1
  else
    stamp "WARNING: gpio-sim could not be built; the LED/buzzer check is SKIPPED"
  fi
fi
stamp "gpio-sim: ${GPIODIR:-off}"

# ---- 5. initramfs: busybox, kernel modules, node + libraries, dist/ and the runtime node_modules
"$HERE/mkinitramfs.sh" "$REPO" "$KROOT" "$EMU/initrd-$KV.cpio" $GPIODIR
stamp "initramfs ready"

# ---- 6. one boot per display:rotation
rc=0
for run in $RUNS; do
  disp=${run%%:*} rot=${run#*:}
  stamp "boot with the $disp display, panel at rotation $rot"
  if ! EMU_GPIO=$([ -n "$GPIODIR" ] && echo 1 || echo 0) EMU_DISPLAY=$disp EMU_ROTATION=$rot timeout 300 python3 "$HERE/harness.py" "$KROOT/boot/vmlinuz-$KV" "$EMU/initrd-$KV.cpio" "$EMU/run-$disp-rot$rot"; then
    rc=1
  fi
done
# ---- 7. the USB keypad unplugged and plugged back while the driver reads it (QMP device_del / device_add)
if [ "$EMU_DEBARCH" = amd64 ]; then
  stamp "keypad unplug / replug"
  if ! EMU_DIR="$EMU" timeout 300 python3 "$REPO/drivers/keypad/qemu-unplug/run.py"; then
    rc=1
  fi
else
  stamp "keypad unplug / replug: SKIPPED on $EMU_DEBARCH (drivers/keypad/qemu-unplug/run.py boots an x86_64 guest)"
fi
stamp "$([ $rc = 0 ] && echo PASS || echo FAIL) (screendumps and console logs in $EMU/run-*)"
exit $rc

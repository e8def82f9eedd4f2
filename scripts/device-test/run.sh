#!/bin/bash
# Device test on a real Linux kernel under QEMU (software emulation, no KVM needed):
# the real HidKeypad and FramebufferDisplay drivers from dist/ run in an x86_64 guest with a USB
# keyboard (/dev/hidraw0), a bochs DRM framebuffer (/dev/fb0, 800x480), a serial pole display
# (/dev/ttyS1) and gpio-sim (LED, buzzer); the host types an
# amount over QMP, reads the screen back with screendump and checks it (see README.md).
#
# usage: scripts/device-test/run.sh          (as root on Debian 12; installs what it lacks)
# env:   EMU_ROTATIONS="0 90"  panel rotations to boot with (one boot each)
#        EMU_SKIP_BUILD=1      use the existing dist/ instead of running `npm run build`
#        EMU_ACCEL=tcg         QEMU accelerator (kvm where available makes it faster)
#        EMU_GPIO=auto         gpio-sim for the LED/buzzer check: auto = build it, and if that fails
#                              say so and test without it; 1 = required; 0 = off
#        EMU_DIR=<repo>/.emu   cache for downloads, the extracted kernel, initramfs and run logs
set -euo pipefail
# depmod (kmod) is in /usr/sbin, which a non-root user's PATH on Debian lacks.
export PATH="$PATH:/usr/sbin:/sbin"
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
EMU=${EMU_DIR:-$REPO/.emu}
ROTATIONS=${EMU_ROTATIONS:-"0 90"}
mkdir -p "$EMU/pkgs"
SECONDS=0
stamp() { printf '[device-test %3ds] %s\n' "$SECONDS" "$*"; }

# ---- 1. host tools (Debian archive only)
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
[ -x /bin/busybox ] && file -L /bin/busybox 2>/dev/null | grep -q 'statically linked' || need+=(busybox-static)
command -v cpio >/dev/null || need+=(cpio)
command -v depmod >/dev/null || need+=(kmod)
command -v zbarimg >/dev/null || need+=(zbar-tools)
command -v strip >/dev/null || need+=(binutils)
command -v file >/dev/null || need+=(file)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf ] || need+=(fonts-dejavu-core)
if [ ${#need[@]} -gt 0 ]; then
  stamp "installing ${need[*]}"
  lock=(); command -v flock >/dev/null && lock=(flock /tmp/apt.lock)
  "${lock[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${lock[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
stamp "host tools: $(qemu-system-x86_64 --version | head -1)"

# ---- 2. guest kernel: Debian's current amd64 kernel package, extracted (nothing is installed)
kernel_abi() { apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/.*Depends: linux-image-\([0-9].*-amd64\)$/\1/p' | head -1 || true; }
KV=$(kernel_abi)
if [ -z "$KV" ]; then apt-get update -qq; KV=$(kernel_abi); fi
[ -n "$KV" ] || { echo "device-test: cannot resolve the linux-image-amd64 version (apt-get update?)" >&2; exit 1; }
if ! ls "$EMU/pkgs/linux-image-${KV}_"*.deb >/dev/null 2>&1; then
  (cd "$EMU/pkgs" && apt-get download "linux-image-$KV" 2>&1 | grep -v unsandboxed || true)
fi
KROOT=$EMU/k-$KV
if [ ! -f "$KROOT/boot/vmlinuz-$KV" ]; then
  rm -rf "$KROOT.tmp" && dpkg -x "$EMU/pkgs/linux-image-${KV}_"*.deb "$KROOT.tmp" && mv "$KROOT.tmp" "$KROOT"
fi
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

# ---- 6. one boot per rotation
rc=0
for rot in $ROTATIONS; do
  stamp "boot with the panel at rotation $rot"
  if ! EMU_GPIO=$([ -n "$GPIODIR" ] && echo 1 || echo 0) EMU_ROTATION=$rot timeout 300 python3 "$HERE/harness.py" "$KROOT/boot/vmlinuz-$KV" "$EMU/initrd-$KV.cpio" "$EMU/run-rot$rot"; then
    rc=1
  fi
done
# ---- 7. the USB keypad unplugged and plugged back while the driver reads it (QMP device_del / device_add)
stamp "keypad unplug / replug"
if ! EMU_DIR="$EMU" timeout 300 python3 "$REPO/drivers/keypad/qemu-unplug/run.py"; then
  rc=1
fi
stamp "$([ $rc = 0 ] && echo PASS || echo FAIL) (screendumps and console logs in $EMU/run-rot*)"
exit $rc

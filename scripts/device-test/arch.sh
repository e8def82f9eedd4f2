# Sourced by run.sh (and by `arch.sh --print`): what differs between an x86_64 and an arm64 host.
# The guest has the host's architecture because node and the native addons it runs are the host's.
# EMU_ARCH overrides the detection (amd64 | arm64), e.g. to see what an arm64 host would select.
emu_select_arch() {
  local m=${EMU_ARCH:-$(dpkg --print-architecture 2>/dev/null || uname -m)}
  case $m in
    amd64 | x86_64)
      EMU_DEBARCH=amd64 EMU_QEMU=qemu-system-x86_64 EMU_QEMU_PKG=qemu-system-x86
      EMU_MACHINE=q35 EMU_CPU=max EMU_CONSOLE=ttyS0 EMU_LDSO=/lib64/ld-linux-x86-64.so.2
      # The pole display on the second 16550 UART. Boots: bochs (32 bpp) at two rotations, cirrus (16 bpp).
      EMU_POLE=/dev/ttyS1 EMU_RUNS_DEFAULT="bochs:0 bochs:90 cirrus:0"
      ;;
    arm64 | aarch64)
      EMU_DEBARCH=arm64 EMU_QEMU=qemu-system-aarch64 EMU_QEMU_PKG=qemu-system-arm
      # cortex-a72 (a Pi 4's core); -cpu max is about 3x slower under TCG (pointer authentication).
      EMU_MACHINE=virt EMU_CPU=cortex-a72 EMU_CONSOLE=ttyAMA0 EMU_LDSO=/lib/ld-linux-aarch64.so.1
      # virt has one PL011 (the console): the pole display is a PCI 16550 (8250_pci), ttyS0 in the guest.
      # cirrus-vga gives the guest a 16 bpp framebuffer on virt too, but QEMU shows no picture of it
      # (no VGA BIOS there; see kernel-check.py), so the 16 bpp boot with its screen checks is x86_64's.
      EMU_POLE=/dev/ttyS0 EMU_RUNS_DEFAULT="bochs:0 bochs:90"
      ;;
    *)
      echo "device-test: unsupported host architecture '$m' (amd64 or arm64)" >&2
      return 1
      ;;
  esac
  EMU_KPKG=linux-image-$EMU_DEBARCH
  export EMU_DEBARCH EMU_QEMU EMU_QEMU_PKG EMU_MACHINE EMU_CPU EMU_CONSOLE EMU_LDSO EMU_POLE EMU_KPKG EMU_RUNS_DEFAULT
}

# emu_unpack_kernel DEB DEST: the kernel package's files in DEST (nothing is installed). Trixie's
# package has its modules in /usr/lib/modules (merged /usr): DEST gets the merged layout, with
# lib -> usr/lib, so DEST/lib/modules is there for modprobe -d and depmod -b whichever kmod runs.
emu_unpack_kernel() {
  local deb=$1 dest=$2
  rm -rf "$dest.tmp" && dpkg -x "$deb" "$dest.tmp" || return 1
  if [ ! -e "$dest.tmp/lib/modules" ] && [ -d "$dest.tmp/usr/lib/modules" ]; then
    if [ -d "$dest.tmp/lib" ]; then cp -a "$dest.tmp/lib/." "$dest.tmp/usr/lib/" && rm -rf "$dest.tmp/lib"; fi
    ln -s usr/lib "$dest.tmp/lib"
  fi
  rm -rf "$dest" && mv "$dest.tmp" "$dest"
}

# Root runs apt-get itself, anyone else through sudo (-n: a password prompt fails with a message).
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then
    sudo -n "$@" || { echo "device-test: 'sudo $*' failed: run as root or give this user sudo" >&2; return 1; }
  else echo "device-test: '$*' needs root and there is no sudo: run as root" >&2; return 1; fi
}

# emu_fetch_kernel EMU: Debian's current kernel for this architecture (the version EMU_KPKG points
# at), downloaded once into EMU/pkgs and unpacked into EMU/k-<abi> (nothing is installed). Sets KV
# (the kernel's ABI name) and KROOT.
emu_fetch_kernel() {
  local emu=$1
  mkdir -p "$emu/pkgs"
  KV=$(emu_kernel_abi)
  if [ -z "$KV" ]; then as_root apt-get update -qq; KV=$(emu_kernel_abi); fi
  [ -n "$KV" ] || { echo "device-test: cannot resolve the $EMU_KPKG version (apt-get update?)" >&2; return 1; }
  if ! ls "$emu/pkgs/linux-image-${KV}_"*.deb >/dev/null 2>&1; then
    (cd "$emu/pkgs" && apt-get download "linux-image-$KV" 2>&1 | grep -v unsandboxed || true)
  fi
  KROOT=$emu/k-$KV
  [ -f "$KROOT/boot/vmlinuz-$KV" ] || emu_unpack_kernel "$(ls "$emu/pkgs/linux-image-${KV}_"*.deb | head -1)" "$KROOT"
}
emu_kernel_abi() { apt-cache depends "$EMU_KPKG" 2>/dev/null | sed -n "s/.*Depends: linux-image-\([0-9].*-$EMU_DEBARCH\)\$/\1/p" | head -1 || true; }

# emu_node_builtin_dirs FILE...: the /usr/share/nodejs packages that node or libnode (FILEs) load
# builtins from. Debian's own nodejs keeps acorn, cjs-module-lexer, undici there instead of inside
# libnode; NodeSource's node names none.
emu_node_builtin_dirs() {
  strings -n 8 "$@" | { grep -o '/usr/share/nodejs/[A-Za-z0-9@._/-]*' || true; } |
    sed -E 's#^(/usr/share/nodejs/(@[^/]+/)?[^/]+).*#\1#' | LC_ALL=C sort -u
}

emu_select_arch || exit 1
if [ "${1:-}" = --print ]; then
  for v in EMU_DEBARCH EMU_QEMU EMU_QEMU_PKG EMU_MACHINE EMU_CPU EMU_CONSOLE EMU_LDSO EMU_POLE EMU_KPKG EMU_RUNS_DEFAULT; do echo "$v=${!v}"; done
fi

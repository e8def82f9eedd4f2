#!/bin/bash
# selftest.sh: checks, in about a second and without QEMU, the parts of the device test that differ
# between hosts: what arch.sh selects for amd64 and arm64 (QEMU binary and package, machine, CPU,
# console, kernel package), the QEMU command line harness.py builds for each architecture and
# display, and that a kernel package with Trixie's /usr/lib/modules layout unpacks to a tree
# where <root>/lib/modules works for depmod -b. run.sh runs it first. Exit status 0 = all passed.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
export PATH=$PATH:/usr/sbin:/sbin
fails=0 total=0
ok() {  # ok NAME CONDITION-STATUS [DETAIL]
  total=$((total + 1))
  if [ "$2" = 0 ]; then echo "selftest PASS $1"; else echo "selftest FAIL $1${3:+: $3}"; fails=$((fails + 1)); fi
}
has() { grep -qxF -- "$2" <<<"$1"; }

for a in amd64:amd64 x86_64:amd64 arm64:arm64 aarch64:arm64; do
  out=$(EMU_ARCH=${a%%:*} bash "$HERE/arch.sh" --print)
  if [ "${a#*:}" = amd64 ]; then
    has "$out" EMU_QEMU=qemu-system-x86_64 && has "$out" EMU_QEMU_PKG=qemu-system-x86 && has "$out" EMU_MACHINE=q35 &&
      has "$out" EMU_CONSOLE=ttyS0 && has "$out" EMU_KPKG=linux-image-amd64 && has "$out" EMU_POLE=/dev/ttyS1 &&
      has "$out" 'EMU_RUNS_DEFAULT=bochs:0 bochs:90 cirrus:0'
  else
    has "$out" EMU_QEMU=qemu-system-aarch64 && has "$out" EMU_QEMU_PKG=qemu-system-arm && has "$out" EMU_MACHINE=virt &&
      has "$out" EMU_CPU=cortex-a72 && has "$out" EMU_CONSOLE=ttyAMA0 && has "$out" EMU_KPKG=linux-image-arm64 &&
      has "$out" EMU_LDSO=/lib/ld-linux-aarch64.so.1 && has "$out" EMU_POLE=/dev/ttyS0 && has "$out" 'EMU_RUNS_DEFAULT=bochs:0 bochs:90'
  fi
  ok "arch.sh selects the ${a#*:} settings for host '${a%%:*}'" $? "$(tr '\n' ' ' <<<"$out")"
done
err=$(EMU_ARCH=riscv64 bash "$HERE/arch.sh" --print 2>&1 >/dev/null)
[ $? != 0 ] && grep -q "unsupported host architecture 'riscv64'" <<<"$err"
ok "arch.sh refuses an architecture it has no settings for, saying which" $? "$err"

# The QEMU command line per architecture and display (harness.py builds it; nothing is started).
for case in amd64:bochs amd64:cirrus arm64:bochs arm64:cirrus; do
  arch=${case%%:*} disp=${case#*:}
  argv=$(env -u EMU_QEMU -u EMU_MACHINE -u EMU_CPU -u EMU_CONSOLE -u EMU_POLE -u EMU_DEBARCH \
    EMU_ARCH=$arch EMU_DISPLAY=$disp EMU_PRINT_ARGV=1 python3 "$HERE/harness.py" /k /i /w)
  python3 - "$arch" "$disp" "$argv" <<'PY'
import json, sys
arch, disp, argv = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
line = ' '.join(argv)
want = {'amd64': ['qemu-system-x86_64 -machine q35', 'console=ttyS0 ', 'EMU_POLE=/dev/ttyS1', '-serial chardev:pole'],
        'arm64': ['qemu-system-aarch64 -machine virt', '-cpu cortex-a72', 'console=ttyAMA0 ', 'EMU_POLE=/dev/ttyS0', '-device pci-serial,chardev=pole']}[arch]
want += {'bochs': ['-device bochs-display,xres=800,yres=480'], 'cirrus': ['-device cirrus-vga', ' video=800x480-16']}[disp]
missing = [w for w in want if w not in line]
wrong = ['-vga none'] if arch == 'arm64' and '-vga none' in line else []
if missing or wrong:
    sys.exit(f'missing {missing}, unexpected {wrong} in: {line}')
PY
  ok "harness.py: $arch guest with the $disp display" $?
done
env -u EMU_QEMU EMU_DISPLAY=vga EMU_PRINT_ARGV=1 python3 "$HERE/harness.py" /k /i /w >/dev/null 2>&1
[ $? != 0 ]
ok "harness.py refuses an unknown EMU_DISPLAY" $?

# Kernel packages: Bookworm's has lib/modules/KV, Trixie's usr/lib/modules/KV (and a few other files in lib/).
if command -v dpkg-deb >/dev/null && command -v depmod >/dev/null; then
  . "$HERE/arch.sh"
  T=$(mktemp -d)
  trap 'rm -rf "$T"' EXIT
  for layout in lib usr/lib; do
    P=$T/pkg-${layout//\//-}
    mkdir -p "$P/DEBIAN" "$P/boot" "$P/$layout/modules/9.9.9-test/kernel/drivers" "$P/lib/firmware"
    printf 'Package: linux-image-test\nVersion: 1\nArchitecture: all\nMaintainer: selftest <selftest@localhost>\nDescription: test\n' > "$P/DEBIAN/control"
    echo kernel > "$P/boot/vmlinuz-9.9.9-test"
    echo fw > "$P/lib/firmware/test.bin"
    dpkg-deb -Zgzip --build "$P" "$P.deb" >/dev/null
    emu_unpack_kernel "$P.deb" "$T/k-${layout//\//-}"
    K=$T/k-${layout//\//-}
    [ -d "$K/lib/modules/9.9.9-test/kernel/drivers" ] && [ -f "$K/lib/firmware/test.bin" ] && [ -f "$K/boot/vmlinuz-9.9.9-test" ] &&
      depmod -b "$K" 9.9.9-test 2>/dev/null && [ -f "$K/lib/modules/9.9.9-test/modules.dep" ]
    ok "kernel package with modules in /$layout/modules: unpacked, <root>/lib/modules found, depmod -b works" $? "$(cd "$K" && find . | sort | tr '\n' ' ')"
  done
fi

# Debian's libnode names the builtins it loads from /usr/share/nodejs (as Debian 12's libnode108 does).
if command -v strings >/dev/null; then
  . "$HERE/arch.sh"
  F=$(mktemp)
  printf 'x\0/usr/share/nodejs/acorn/dist/acorn.js\0/usr/share/nodejs/acorn-walk/dist/walk.js\0y\0/usr/share/nodejs/cjs-module-lexer/lexer.js\0/usr/share/nodejs/cjs-module-lexer/dist/lexer.js\0/usr/share/nodejs/undici/undici-fetch.js\0/usr/share/nodejs/@scope/pkg/index.js\0' > "$F"
  got=$(emu_node_builtin_dirs "$F" | tr '\n' ' ')
  [ "$got" = "/usr/share/nodejs/@scope/pkg /usr/share/nodejs/acorn /usr/share/nodejs/acorn-walk /usr/share/nodejs/cjs-module-lexer /usr/share/nodejs/undici " ]
  ok "Debian libnode's /usr/share/nodejs builtins found by name" $? "$got"
  printf 'no such paths here\0' > "$F"
  [ -z "$(emu_node_builtin_dirs "$F")" ]
  ok "a node that names no /usr/share/nodejs path (NodeSource) needs none" $?
  rm -f "$F"
fi

echo "selftest: $((total - fails))/$total passed"
[ "$fails" = 0 ]

#!/usr/bin/env python3
"""Host side of the device test. Boots the guest under QEMU (TCG), types an amount and Enter
on the emulated USB keyboard's keypad over QMP, reads the screen back with QMP screendump and
checks it: the QR decodes (zbarimg) to the text for the typed amount, the orientation marker is
where the rotation puts it, no console cursor blinks over the picture, and the guest's serial
console reports the amount. Python standard library only. Exit status 0 = every check passed.

usage: harness.py KERNEL INITRD WORKDIR
env:   EMU_DISPLAY (bochs | cirrus), EMU_ROTATION, EMU_ACCEL, EMU_TIMEOUT, EMU_VERBOSE, EMU_GUEST_TTY;
       the architecture's QEMU settings from arch.sh (EMU_QEMU, EMU_MACHINE, ...; EMU_ARCH to choose);
       EMU_PRINT_ARGV=1 prints the QEMU command line as JSON and exits without running it.
"""
import json, os, re, shutil, subprocess, sys, threading, time

from qmp import QMP, QMPError, connect_unix

KERNEL, INITRD, WORK = (os.path.abspath(p) for p in sys.argv[1:4])
ROTATION = int(os.environ.get('EMU_ROTATION', '0'))
ACCEL = os.environ.get('EMU_ACCEL', 'tcg')
TIMEOUT = float(os.environ.get('EMU_TIMEOUT', '180'))
VERBOSE = os.environ.get('EMU_VERBOSE') == '1'
FB_W, FB_H = 800, 480
# The emulated displays: bochs is 32 bpp XRGB8888; cirrus is 16 bpp RGB565 by default, like a Pi's
# vc4drmfb, and gets the panel size from video=. The guest's config is the HDMI profile's
# (XRGB8888 expected, found by name), so at 16 bpp the driver must adapt and say so.
DISPLAYS = {
    'bochs': {'device': [f'bochs-display,xres={FB_W},yres={FB_H}'], 'append': '', 'name': 'bochs-drmdrmfb', 'bpp': 32},
    'cirrus': {'device': ['cirrus-vga'], 'append': f' video={FB_W}x{FB_H}-16', 'name': 'cirrusdrmfb', 'bpp': 16},
}
DISPLAY = os.environ.get('EMU_DISPLAY', 'bochs')
if DISPLAY not in DISPLAYS:
    sys.exit(f'harness: EMU_DISPLAY={DISPLAY!r}: want one of {", ".join(DISPLAYS)}')
DISP = DISPLAYS[DISPLAY]

def arch_settings():
    """EMU_QEMU, EMU_MACHINE, ... as run.sh exported them, or from arch.sh when run alone."""
    keys = ('EMU_QEMU', 'EMU_MACHINE', 'EMU_CPU', 'EMU_CONSOLE', 'EMU_POLE', 'EMU_DEBARCH')
    if all(os.environ.get(k) for k in keys):
        return {k: os.environ[k] for k in keys}
    out = subprocess.run(['bash', os.path.join(os.path.dirname(os.path.abspath(__file__)), 'arch.sh'), '--print'],
                         capture_output=True, text=True, check=True).stdout
    return dict(l.split('=', 1) for l in out.splitlines() if '=' in l)
ARCH = arch_settings()
KEYS = ['kp_1', 'kp_5', 'kp_0', 'kp_0']
AMOUNT = 1500
EXPECTED_QR = f'qrpos-device-test amount={AMOUNT} THB'  # guest.ts qrTextFor()

def qemu_argv():
    append = (f'console={ARCH["EMU_CONSOLE"]} panic=-1 quiet EMU_ROTATION={ROTATION} EMU_FB_WIDTH={FB_W} EMU_FB_HEIGHT={FB_H}'
              f' EMU_POLE={ARCH["EMU_POLE"]}{DISP["append"]}')
    if os.environ.get('EMU_GUEST_TTY'):  # "none": the driver leaves the console cursor alone (negative control)
        append += f' EMU_TTY={os.environ["EMU_GUEST_TTY"]}'
    argv = [ARCH['EMU_QEMU'], '-machine', ARCH['EMU_MACHINE'], '-accel', ACCEL, '-cpu', ARCH['EMU_CPU'], '-smp', '2', '-m', '1024',
            '-kernel', KERNEL, '-initrd', INITRD, '-append', append, '-no-reboot', '-display', 'none', '-nic', 'none']
    if ARCH['EMU_DEBARCH'] == 'amd64':
        argv += ['-vga', 'none']
    for d in DISP['device']:
        argv += ['-device', d]
    argv += ['-device', 'qemu-xhci,id=xhci', '-device', 'usb-kbd,bus=xhci.0',
             '-chardev', 'stdio,id=con,signal=off', '-serial', 'chardev:con',
             '-chardev', 'socket,id=pole,path=pole.sock,server=on,wait=off']
    # The pole display: x86's second 16550 (ttyS1); on arm64 virt a PCI 16550 (ttyS0), its one PL011 being the console.
    argv += ['-serial', 'chardev:pole'] if ARCH['EMU_DEBARCH'] == 'amd64' else ['-device', 'pci-serial,chardev=pole']
    return argv + ['-qmp', 'unix:qmp.sock,server=on,wait=off']

if os.environ.get('EMU_PRINT_ARGV') == '1':
    print(json.dumps(qemu_argv()))
    sys.exit(0)

os.makedirs(WORK, exist_ok=True)
os.chdir(WORK)
for f in ('qmp.sock', 'pole.sock', 'screen.png', 'screen.ppm', 'console.log'):
    if os.path.exists(f):
        os.unlink(f)

t0 = time.time()
def el():
    return f'{time.time() - t0:5.1f}s'

def note(msg):
    print(f'[{el()}] {msg}', flush=True)

argv = qemu_argv()
note('qemu: ' + ' '.join(argv))
proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

lines, cond = [], threading.Condition()
def reader():
    buf = b''
    with open('console.log', 'wb') as logf:
        while True:
            b = proc.stdout.read1(65536)
            if not b:
                break
            logf.write(b)
            logf.flush()
            buf += b
            while b'\n' in buf:
                line, buf = buf.split(b'\n', 1)
                s = line.decode(errors='replace').rstrip('\r')
                if VERBOSE or s.startswith(('GUEST', 'T_', 'FB0', 'DEV:', 'KMSG:', 'GPIOSIM', 'modprobe')) or 'error' in s.lower():
                    print(f'[{el()}] | {s}', flush=True)
                with cond:
                    lines.append(s)
                    cond.notify_all()
    with cond:
        lines.append('<<EOF>>')
        cond.notify_all()
threading.Thread(target=reader, daemon=True).start()

seen = 0  # lines before this index were consumed by an earlier wait
def wait_line(pattern, timeout=TIMEOUT):
    """Next console line matching pattern (after the previous match); fails on GUEST FAIL or QEMU exit."""
    global seen
    rx = re.compile(pattern)
    end = time.time() + timeout
    with cond:
        while True:
            while seen < len(lines):
                s = lines[seen]
                seen += 1
                if rx.search(s):
                    return s
                if s == '<<EOF>>':
                    raise Failure(f'QEMU exited while waiting for {pattern!r}')
                if s.startswith('GUEST FAIL') or s.startswith('GUEST ERROR'):
                    raise Failure(f'guest failed: {s}')
            if time.time() > end:
                raise Failure(f'timed out after {timeout:.0f}s waiting for {pattern!r}')
            cond.wait(0.5)

def guest_event(line):
    return json.loads(line.split(' ', 2)[2])

class Failure(Exception):
    pass

def screendump(name, fmt):
    qmp.cmd('screendump', filename=os.path.join(WORK, name), **({'format': fmt} if fmt != 'ppm' else {}))
    return os.path.join(WORK, name)

def read_ppm(path):
    data = open(path, 'rb').read()
    m = re.match(rb'P6\s+(\d+)\s+(\d+)\s+(\d+)\s', data)
    w, h = int(m[1]), int(m[2])
    px = data[m.end():]
    return w, h, lambda x, y: tuple(px[(y * w + x) * 3:(y * w + x) * 3 + 3])

checks = []
def check(name, ok, detail=''):
    checks.append((name, bool(ok), detail))
    note(f'{"PASS" if ok else "FAIL"} {name}{": " + detail if detail else ""}')

# The customer pole display's side of the guest's ttyS1: collect every byte the driver sends.
pole_bytes, pole_lock = bytearray(), threading.Lock()
def pole_reader(sock):
    while True:
        b = sock.recv(4096)
        if not b:
            return
        with pole_lock:
            pole_bytes.extend(b)

def pole_has(needle, timeout):
    end = time.time() + timeout
    while time.time() < end:
        with pole_lock:
            if needle in pole_bytes:
                return True
        time.sleep(0.05)
    return False

timings = {}
qmp = None
try:
    qmp = QMP('qmp.sock')
    # Connect before the guest boots: a socket chardev drops what the guest sends while no one listens.
    threading.Thread(target=pole_reader, args=(connect_unix('pole.sock'),), daemon=True).start()
    note(f'QMP connected: QEMU {qmp.cmd("query-version")["qemu"]}')
    wait_line(r'^T_INIT')
    timings['init'] = round(time.time() - t0, 1)
    geo = {k: v for k, v in (re.match(r'FB0 (\w+)=(.*)', wait_line(r'^FB0 ' + f)).groups() for f in ('name', 'virtual_size', 'bits_per_pixel', 'stride'))}
    check(f'kernel fbdev geometry ({DISPLAY}: {FB_W}x{FB_H}, {DISP["bpp"]} bpp)',
          geo['name'] == DISP['name'] and geo['virtual_size'] == f'{FB_W},{FB_H}' and geo['bits_per_pixel'] == str(DISP['bpp']), json.dumps(geo))
    opened = guest_event(wait_line(r'^GUEST DISPLAY_OPEN'))
    # The guest's config says /dev/fb1 and names the framebuffer: the driver must find it at fb0 by name.
    check('FramebufferDisplay found the framebuffer by name at /dev/fb0 (config: /dev/fb1)', 'framebuffer /dev/fb0 ' in opened['description'], opened['description'])
    adapted = opened.get('adaptations', [])
    if DISP['bpp'] == 16:
        check('16 bpp framebuffer, profile expects XRGB8888: adapted to RGB565 and reported', 'RGB565' in opened['description'] and len(adapted) == 1 and 'drawing RGB565' in adapted[0], json.dumps(adapted))
    else:
        check('framebuffer as the profile expects: nothing adapted', adapted == [] and 'XRGB8888' in opened['description'], json.dumps(adapted))
    ready = guest_event(wait_line(r'^GUEST READY'))
    timings['app_ready'] = round(time.time() - t0, 1)
    check('HidKeypad opened the USB keyboard by vendor/product 0627:0001', 'hidraw' in ready['keypad'] or '0627' in ready['keypad'], ready['keypad'])

    # Type the amount; each key must come back as a redrawn amount line before the next one.
    typed = ''
    for k in KEYS:
        qmp.cmd('send-key', keys=[{'type': 'qcode', 'data': k}], **{'hold-time': 50})
        typed += k[-1]
        shown = guest_event(wait_line(r'^GUEST AMOUNT_SHOWN', 60))
        if shown['amount'] != int(typed):
            raise Failure(f'after {k} the guest shows {shown["amount"]}, expected {int(typed)}')
    check(f'keys {" ".join(KEYS)} arrived in order through hidraw', True, f'amount line redrawn for 1, 15, 150, {AMOUNT}')
    timings['typed'] = round(time.time() - t0, 1)
    w, h, at = read_ppm(screendump('amount.ppm', 'ppm'))
    # Text is drawn dark on white in the amount line: some dark pixels must be there (any rotation).
    dark = sum(1 for y in range(0, h, 2) for x in range(0, w, 2) if sum(at(x, y)) < 200)
    check('amount line pixels reached the screen', dark > 100, f'{dark} dark sampled pixels in the {w}x{h} screendump')

    qmp.cmd('send-key', keys=[{'type': 'qcode', 'data': 'kp_enter'}], **{'hold-time': 50})
    qr = guest_event(wait_line(r'^GUEST QR_SHOWN', 60))
    timings['qr_shown'] = round(time.time() - t0, 1)
    check('guest reports the amount over the serial console', qr['amount'] == AMOUNT, f'amount={qr["amount"]} text={qr["text"]!r}')

    # Pole display (Epson command set, 20x2): init, then the last text written whole on both lines.
    want = b'\x1f\x24\x01\x01' + b'SCAN QR TO PAY'.ljust(20) + b'\x1f\x24\x01\x02' + b'THB 15.00'.ljust(20)
    got_pole = pole_has(want, 10)
    with pole_lock:
        pole_head = bytes(pole_bytes[:3])
        pole_len = len(pole_bytes)
    check('pole display on ttyS1 got ESC @ FF, then "SCAN QR TO PAY" / "THB 15.00" (byte-exact)', got_pole and pole_head == b'\x1b\x40\x0c', f'{pole_len} bytes received, first {pole_head.hex()}')

    if ready.get('indicator'):
        # LED on (line 0 high) for the whole sale; buzzer (line 1): a tick per key plus the two success chirps.
        trace = guest_event(wait_line(r'^GUEST GPIO_TRACE', 30))
        rises = sum(1 for a, b in zip(trace['buzzer'], trace['buzzer'][1:]) if a == '0' and b == '1')
        check('gpio-sim: LED line high, buzzer beeped per key and for success, ends low',
              trace['led'][-1:] == ['1'] and trace['buzzer'][-1:] == ['0'] and rises >= 3,
              f'{trace["indicator"]}: LED {"".join(trace["led"])}, buzzer {"".join(trace["buzzer"])} ({rises} beeps)')
    elif os.environ.get('EMU_GPIO') == '1':
        check('gpio-sim chip present in the guest', False, 'no indicator: see GPIOSIM / modprobe lines in console.log')

    png = screendump('screen.png', 'png')
    zbar = subprocess.run(['zbarimg', '--raw', '-q', png], capture_output=True, text=True)
    decoded = zbar.stdout.strip()
    check('QR on the screendump decodes to the expected text (zbarimg)', decoded == EXPECTED_QR, f'got {decoded!r}, want {EXPECTED_QR!r}')

    w, h, at = read_ppm(screendump('screen.ppm', 'ppm'))
    # guest.ts paints a red square at logical (W-24..W-8, H-24..H-8); find its centre on the panel.
    lw, lh = (FB_H, FB_W) if ROTATION in (90, 270) else (FB_W, FB_H)
    lx, ly = lw - 16, lh - 16
    px, py = {0: (lx, ly), 90: (lh - 1 - ly, lx), 180: (lw - 1 - lx, lh - 1 - ly), 270: (ly, lw - 1 - lx)}[ROTATION]
    r, g, b = at(px, py)  # exact at 32 bpp; RGB565's 5/6-bit channels may come back as 248 rather than 255
    check(f'rotation {ROTATION}: orientation marker at panel ({px},{py})', (w, h) == (FB_W, FB_H) and r >= 240 and g < 16 and b < 16, f'pixel {at(px, py)}')

    # The driver hid the cursor of the display's VT (/dev/tty1) through the real console driver.
    # (fbcon under QEMU draws no blinking cursor even when it is not hidden, so this is checked
    # from the guest's log rather than from the screen.)
    with cond:
        tty_warn = [l for l in lines if 'cannot hide the console cursor' in l]
    check('console cursor hidden on the display VT (escape sequence written to /dev/tty1)', not tty_warn and os.environ.get('EMU_GUEST_TTY', '/dev/tty1') != 'none', tty_warn[0] if tty_warn else '')
except (Failure, QMPError) as e:
    check('run completed', False, str(e))
finally:
    try:
        if qmp:
            qmp.cmd('quit')
    except Exception:
        pass
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    timings['total'] = round(time.time() - t0, 1)

note('timings (s since QEMU start): ' + json.dumps(timings))
failed = [c for c in checks if not c[1]]
print(f'device test: {len(checks) - len(failed)}/{len(checks)} checks passed' + (f'; FAILED: {", ".join(c[0] for c in failed)}' if failed else ''), flush=True)
if failed:
    print(f'console log: {os.path.join(WORK, "console.log")}', flush=True)
sys.exit(1 if failed else 0)

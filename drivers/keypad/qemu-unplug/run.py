#!/usr/bin/env python3
"""HidKeypad unplug / replug on a real kernel: QEMU's USB keyboard is removed (QMP device_del)
and added again (device_add) while the compiled driver reads its hidraw node in the guest.

Reuses the kernel and initramfs that scripts/device-test/run.sh leaves in .emu/ (run that once
first); adds an overlay with this folder's init and guest.cjs and the freshly compiled drivers.
Checks: keys before the unplug, {connected:false} on unplug (no crash), {connected:true} after
the replug (timed), keys after it, and the keypad's input device inhibited both times.
Usage: python3 drivers/keypad/qemu-unplug/run.py   (exit status 0 when every check passed)
"""
import glob, json, os, shutil, socket, subprocess, sys, tempfile, threading, time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, '..', '..', '..'))
EMU = os.environ.get('EMU_DIR', os.path.join(REPO, '.emu'))
kernels = sorted(glob.glob(os.path.join(EMU, 'k-*', 'boot', 'vmlinuz-*')))
initrds = sorted(glob.glob(os.path.join(EMU, 'initrd-*.cpio')), key=os.path.getmtime)
if not kernels or not initrds:
    sys.exit(f'no kernel / initramfs in {EMU}: run scripts/device-test/run.sh once first')
work = tempfile.mkdtemp(prefix='qrpos-unplug-')
t0 = time.time()
def note(m): print(f'[{time.time() - t0:5.1f}s] {m}', flush=True)

# Overlay: init, guest.cjs and the drivers compiled now (a later cpio archive overrides files).
build = os.path.join(work, 'build')
subprocess.run(['npx', 'tsc', '-p', 'tsconfig.json', '--outDir', build], cwd=REPO, check=True)
ov = os.path.join(work, 'ov')
app = os.path.join(ov, 'app', 'unplug')
os.makedirs(os.path.join(app, 'src'))
shutil.copytree(os.path.join(build, 'drivers'), os.path.join(app, 'drivers'))
shutil.copytree(os.path.join(build, 'src', 'shared'), os.path.join(app, 'src', 'shared'))
shutil.copy(os.path.join(HERE, 'guest.cjs'), app)
shutil.copy(os.path.join(HERE, 'init'), ov)
files = subprocess.run(['find', '.'], cwd=ov, capture_output=True, check=True).stdout
overlay = subprocess.run(['cpio', '-o', '-H', 'newc', '--quiet'], cwd=ov, input=files, capture_output=True, check=True).stdout
initrd = os.path.join(work, 'initrd.cpio')
with open(initrd, 'wb') as out:
    with open(initrds[-1], 'rb') as base:
        shutil.copyfileobj(base, out)
    out.write(overlay)

qmp_path = os.path.join(work, 'qmp.sock')
argv = ['qemu-system-x86_64', '-machine', 'q35', '-accel', os.environ.get('EMU_ACCEL', 'tcg'), '-cpu', 'max', '-smp', '2', '-m', '1024',
        '-kernel', kernels[-1], '-initrd', initrd, '-append', 'console=ttyS0 panic=-1 quiet', '-no-reboot',
        '-display', 'none', '-nic', 'none', '-vga', 'none',
        '-device', 'qemu-xhci,id=xhci', '-device', 'usb-kbd,bus=xhci.0,id=kbd',
        '-chardev', 'stdio,id=con,signal=off', '-serial', 'chardev:con', '-qmp', f'unix:{qmp_path},server=on,wait=off']
proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
lines, cond = [], threading.Condition()
def reader():
    buf = b''
    with open(os.path.join(work, 'console.log'), 'wb') as logf:
        while True:
            b = proc.stdout.read1(65536)
            if not b:
                break
            logf.write(b)
            buf += b
            while b'\n' in buf:
                line, buf = buf.split(b'\n', 1)
                with cond:
                    lines.append(line.decode(errors='replace').rstrip('\r'))
                    cond.notify_all()
threading.Thread(target=reader, daemon=True).start()

def count(pred):
    with cond:
        return sum(1 for s in lines if pred(s))
def wait_count(pred, n, what, timeout=90):
    end = time.time() + timeout
    with cond:
        while sum(1 for s in lines if pred(s)) < n:
            if time.time() > end or proc.poll() is not None:
                return False
            cond.wait(0.2)
    return True

checks = []
def check(name, ok, detail=''):
    checks.append(ok)
    note(f'{"PASS" if ok else "FAIL"} {name} {detail}')

try:
    while not os.path.exists(qmp_path):
        time.sleep(0.05)
    q = socket.socket(socket.AF_UNIX)
    q.connect(qmp_path)
    qf = q.makefile('rw')
    qf.readline()
    def qmp(cmd, **args):
        qf.write(json.dumps({'execute': cmd, 'arguments': args}) + '\n')
        qf.flush()
        while True:
            r = json.loads(qf.readline())
            if 'return' in r or 'error' in r:
                return r
    qmp('qmp_capabilities')
    def keys(*names):
        for k in names:
            qmp('send-key', keys=[{'type': 'qcode', 'data': k}])
            time.sleep(0.25)
    key_line = lambda k: (lambda s: s == f'GUEST KEY {json.dumps({"key": k}, separators=(",", ":"))}')
    is_up = lambda s: s.startswith('GUEST STATUS') and '"connected":true' in s
    is_down = lambda s: s.startswith('GUEST STATUS') and '"connected":false' in s
    inhibited = lambda s: s.startswith('INHIBITED 1')

    check('keypad opens', wait_count(lambda s: s.startswith('GUEST READY'), 1, 'ready') and count(is_up) == 1)
    keys('kp_1', 'kp_2')
    check('keys before unplug', wait_count(key_line('2'), 1, 'keys') and count(key_line('1')) == 1)
    check('input device inhibited', wait_count(inhibited, 1, 'inhibited', 5))
    note(f'device_del {qmp("device_del", id="kbd")}')
    check('unplug → {connected:false}', wait_count(is_down, 1, 'down', 10), next((s for s in lines if is_down(s)), ''))
    time.sleep(3)
    n_inh = count(inhibited)
    t_add = time.time()
    note(f'device_add {qmp("device_add", driver="usb-kbd", bus="xhci.0", id="kbd")}')
    ok = wait_count(is_up, 2, 'up again', 30)
    check('replug → {connected:true}', ok, f'{time.time() - t_add:.1f} s after device_add')
    time.sleep(0.5)
    keys('kp_3', 'kp_add', 'kp_enter')
    check('keys after replug', wait_count(key_line('enter'), 1, 'keys') and count(key_line('3')) == 1 and count(key_line('cancel')) == 1)
    check('new input device inhibited', wait_count(inhibited, n_inh + 1, 'inhibited again', 5))
    check('driver still running (no crash)', proc.poll() is None and not any('Error' in s and s.startswith('    at ') for s in lines))
finally:
    proc.kill()
    proc.wait()
    # Keep only the console log: the initramfs copy is ~180 MB.
    os.unlink(initrd)
    shutil.rmtree(build, ignore_errors=True)
    shutil.rmtree(ov, ignore_errors=True)
note(f'hid unplug test: {sum(checks)}/{len(checks)} checks passed (console log: {work}/console.log)')
sys.exit(0 if checks and all(checks) else 1)

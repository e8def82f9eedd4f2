/**
 * Input and serial driver overheads. Run: npx tsx scripts/bench/keypad.ts
 *
 * 1. HID report → `key` event inside HidKeypad (parse, diff, key map, emit), fed by the fake
 *    hidraw backend; the time hidraw itself takes is not included.
 * 2. One 4×4 matrix scan (8 GPIO writes, 16 reads) on the in-memory GPIO backend: the driver's
 *    own cost; on a Pi each sysfs access adds a few microseconds.
 * 3. Pole display show() over a real PTY (socat): until show() resolves (written and drained),
 *    and until the bytes reach the far end.
 *
 * Target: the keypad's share of keypress → frame (p99 ≤ 8 ms, issue #4) well under 1 ms;
 * the pole display following the screen within 50 ms.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { silentLogger } from '../../src/shared/log';
import { FakeGpioBackend, FakeKeyMatrix } from '../../drivers/gpio/fake';
import { HidKeypad } from '../../drivers/keypad/hid';
import { FakeHidBackend } from '../../drivers/keypad/hid-fake';
import { MatrixDebouncer, scanMatrix } from '../../drivers/keypad/matrix-scan';
import { poleInit, poleShow } from '../../drivers/serial/pole-commands';
import { SerialPoleDisplay } from '../../drivers/serial/pole-display';
import { SocatPty, waitUntil } from '../../drivers/serial/socat-pty';

function summary(samples: number[], unit: 'µs' | 'ms'): string {
  const s = [...samples].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
  const f = (ms: number) => (unit === 'µs' ? (ms * 1000).toFixed(1) : ms.toFixed(2));
  return `p50 ${f(at(50))} ${unit}  p99 ${f(at(99))} ${unit}  max ${f(s[s.length - 1])} ${unit}  (n=${s.length})`;
}

async function hid(): Promise<void> {
  const backend = new FakeHidBackend();
  backend.plug({ path: '/dev/hidraw0' });
  const keypad = new HidKeypad(
    { driver: 'hid', vendorId: 0x05a4, productId: 0x9881, keymap: 'standard-numpad', doubleZeroWindowMs: 0, inhibitConsole: false },
    silentLogger,
    { hid: backend, devDir: null },
  );
  let got = 0;
  keypad.on('key', () => got++);
  await keypad.start();
  const down = Buffer.from([0, 0, 0x59, 0, 0, 0, 0, 0]);
  const up = Buffer.alloc(8);
  const samples: number[] = [];
  for (let i = 0; i < 20_000; i++) {
    const t0 = performance.now();
    backend.send('/dev/hidraw0', down);
    samples.push(performance.now() - t0);
    backend.send('/dev/hidraw0', up);
  }
  await keypad.stop();
  if (got !== 20_000) throw new Error(`expected 20000 keys, got ${got}`);
  console.log(`HID report → key event:        ${summary(samples.slice(1000), 'µs')}`);
}

function matrix(): void {
  const gpio = new FakeGpioBackend();
  const rows = [5, 6, 13, 19];
  const cols = [12, 16, 20, 21];
  const m = new FakeKeyMatrix(gpio, rows, cols);
  const rowLines = rows.map((r) => gpio.output(r, 1));
  const colLines = cols.map((c) => gpio.input(c));
  const deb = new MatrixDebouncer(3);
  m.press(2, 1);
  const samples: number[] = [];
  for (let i = 0; i < 20_000; i++) {
    const t0 = performance.now();
    deb.feed(scanMatrix(rowLines, colLines));
    samples.push(performance.now() - t0);
  }
  console.log(`4x4 matrix scan (in-memory):   ${summary(samples.slice(1000), 'µs')}`);
  console.log('  at the default 8 ms interval, 3 scans to accept: a press is reported 16–24 ms after contact settles');
}

async function pole(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'qrpos-bench-'));
  const pty = new SocatPty(dir);
  try {
    await pty.start();
    const display = new SerialPoleDisplay({ path: pty.path, baudRate: 9600, commandSet: 'epson' }, silentLogger);
    await display.start();
    await waitUntil(() => pty.received.length >= poleInit('epson').length, 'init bytes');
    const resolved: number[] = [];
    const arrived: number[] = [];
    for (let i = 0; i < 200; i++) {
      const text = `THB ${(i / 100).toFixed(2)}`;
      const expected = pty.received.length + poleShow('epson', 'AMOUNT', text).length;
      const t0 = performance.now();
      await display.show('AMOUNT', text);
      resolved.push(performance.now() - t0);
      await waitUntil(() => pty.received.length >= expected, 'bytes at the far end');
      arrived.push(performance.now() - t0);
    }
    await display.stop();
    console.log(`pole display show() resolves:  ${summary(resolved, 'ms')}`);
    console.log(`pole display bytes at far end: ${summary(arrived, 'ms')}  (checked at once, then every 10 ms)`);
  } finally {
    await pty.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  console.log(`keypad and serial drivers — node ${process.version}, ${os.cpus().length} CPUs, load ${os.loadavg()[0].toFixed(2)}`);
  console.log('target: keypad share of keypress → frame < 1 ms (frame budget p99 ≤ 8 ms); pole display < 50 ms');
  await hid();
  matrix();
  await pole();
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});

/**
 * Screen renderer benchmark: time of ScreenRenderer.render() per screen kind, as a full redraw
 * (the screen kind changes) and as an update (same kind, one thing changes: a digit keyed, a
 * countdown tick, a clock tick, a PIN key). Run: npx tsx scripts/bench/screens.ts [full-iterations]
 *
 * Target (issue #4): keypress → frame rendered, entry screen at 480×320, p99 <= 8 ms.
 */
import { cpus, loadavg } from 'node:os';
import { MemoryDisplay } from '../../drivers/display/memory';
import type { ScreenModel } from '../../src/terminal/screens/model';
import { ScreenRenderer } from '../../src/terminal/screens/renderer';
import { SAMPLE_QR_TEXT, SAMPLE_STATUS, sampleModels } from '../../src/terminal/screens/testing/samples';

const SIZES: [number, number][] = [
  [480, 320],
  [1920, 1080],
];
const TARGET_P99_MS = 8;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function stats(samples: number[]): { p50: number; p99: number; max: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p99: percentile(s, 99), max: s[s.length - 1] };
}

/** Wall time, and CPU time of this process (what the render costs when other processes compete for the CPU). */
interface Sample {
  wall: number;
  cpu: number;
}

function time(fn: () => void): Sample {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  fn();
  const wall = Number(process.hrtime.bigint() - t0) / 1e6;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1000 };
}

function row(label: string, samples: Sample[]): { wall: ReturnType<typeof stats>; cpu: ReturnType<typeof stats> } {
  const wall = stats(samples.map((s) => s.wall));
  const cpu = stats(samples.map((s) => s.cpu));
  console.log(`  ${pad(label, 32)}${fmt(wall.p50)} ${fmt(wall.p99)} ${fmt(wall.max)}   ${fmt(cpu.p50)} ${fmt(cpu.p99)}`);
  return { wall, cpu };
}

/** Amounts as a cashier keys them (implied decimals): 1, 15, 150, 1500, 15000, then clear. */
function typed(i: number): ScreenModel {
  const keys = '150000'.slice(0, (i % 6) + 1);
  const cents = Number(keys);
  const whole = Math.floor(cents / 100).toLocaleString('en-US');
  return { kind: 'entry', amountText: `${whole}.${String(cents % 100).padStart(2, '0')}`, currency: 'THB', status: SAMPLE_STATUS };
}

function qrTick(i: number): ScreenModel {
  return { kind: 'qr', amountText: '฿1,500.00', qrText: SAMPLE_QR_TEXT, secondsLeft: 120 - (i % 120), totalSeconds: 120, status: SAMPLE_STATUS };
}

function clockTick(i: number): ScreenModel {
  const minute = i % 1440;
  const clock = `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;
  return { kind: 'idle', merchantName: 'Baan Somtam', currencyHint: 'Key an amount in THB', status: { ...SAMPLE_STATUS, clock } };
}

function pinKey(i: number): ScreenModel {
  return { kind: 'pin', title: 'Supervisor PIN', entered: i % 7 };
}

const UPDATES: [string, (i: number) => ScreenModel][] = [
  ['entry (digit keyed)', typed],
  ['qr (countdown tick)', qrTick],
  ['idle (clock tick)', clockTick],
  ['pin (key)', pinKey],
];

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function fmt(v: number): string {
  return v.toFixed(2).padStart(8);
}

async function main(): Promise<void> {
  // Full redraws are slower and less interesting: fewer of them than of keypress updates.
  const iterations = Math.max(50, Number(process.argv[2] ?? 200));
  const updates = iterations * 5;
  const load = () => loadavg()[0].toFixed(2);
  console.log(`screen renderer benchmark: ${iterations} full / ${updates} update renders per row, node ${process.version}, ${process.arch}, ${cpus().length} CPUs`);
  console.log(`load average at start: ${load()} (other processes inflate wall-time tails; the cpu columns exclude waiting)`);
  let entryP99 = Number.NaN;
  let entryCpuP99 = Number.NaN;

  for (const [w, h] of SIZES) {
    console.log(`\n${pad(`${w}×${h}`, 34)}wall p50 wall p99 wall max    cpu p50  cpu p99 (ms)`);
    const r = new ScreenRenderer({ width: w, height: h });

    // Full redraws: alternate with another kind so every measured render repaints everything.
    const other: ScreenModel = { kind: 'message', title: 'x', lines: [], tone: 'info' };
    const seen = new Set<string>();
    for (const m of sampleModels()) {
      const label = m.kind === 'result' ? `result ${m.outcome}` : m.kind;
      if (seen.has(label)) continue;
      seen.add(label);
      for (let i = 0; i < 5; i++) {
        r.render(other);
        r.render(m);
      }
      const samples: Sample[] = [];
      for (let i = 0; i < iterations; i++) {
        r.render(other);
        samples.push(time(() => r.render(m)));
      }
      row(`full: ${label}`, samples);
    }

    for (const [label, model] of UPDATES) {
      r.render({ kind: 'boot', message: '' });
      r.render(model(0));
      for (let i = 1; i < 20; i++) r.render(model(i));
      const samples: Sample[] = [];
      for (let i = 0; i < updates; i++) {
        let dirty = 0;
        samples.push(time(() => (dirty = r.render(model(i)).length)));
        if (dirty > 1) throw new Error(`${label}: expected at most one dirty rectangle, got ${dirty}`);
      }
      const s = row(`update: ${label}`, samples);
      if (w === 480 && label.startsWith('entry')) {
        entryP99 = s.wall.p99;
        entryCpuP99 = s.cpu.p99;
      }
    }

    // Keypress to pixels in an in-memory display: render plus copying the dirty rectangle.
    const display = new MemoryDisplay(w, h);
    await display.present(r.canvas, r.render(typed(0)));
    const samples: Sample[] = [];
    for (let i = 0; i < updates; i++) {
      const c0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      await display.present(r.canvas, r.render(typed(i + 1)));
      const c = process.cpuUsage(c0);
      samples.push({ wall: Number(process.hrtime.bigint() - t0) / 1e6, cpu: (c.user + c.system) / 1000 });
    }
    row('entry render + MemoryDisplay', samples);
  }

  const ok = entryP99 <= TARGET_P99_MS;
  console.log(`\nload average at end: ${load()}`);
  console.log(
    `target: keypress → frame rendered (entry, 480×320) p99 <= ${TARGET_P99_MS} ms: measured ${entryP99.toFixed(2)} ms wall ` +
      `(${entryCpuP99.toFixed(2)} ms cpu) → ${ok ? 'PASS' : 'FAIL'}`,
  );
  if (!ok) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});

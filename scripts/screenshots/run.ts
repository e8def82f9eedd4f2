/**
 * npm run screenshots [-- --sizes 320x240,480x320 --out docs/screenshots]
 *
 * Starts the demo headless (the real simulator, relay and terminal, in this process) at each
 * screen size, walks through the screens of a day at the counter (walk.ts) and saves each one as
 * the terminal's own rendered frame (a PNG of the virtual display, not a browser screenshot):
 * <out>/<size>/<nn>-<name>.png, plus <out>/README.md indexing them, a table per size.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Canvas, loadImage, createCanvas } from 'canvas';
import { startDemo } from '../../src/demo/demo';
import { demoOptions } from '../../src/demo/testing/browser';
import { keysOf, WALK, WALK_METHODS, type Step, type WalkContext } from './walk';

export const DEFAULT_SIZES = ['320x240', '480x320', '1920x1080'];

export interface Shot {
  file: string;
  title: string;
  does: string;
}

function parseArgs(argv: string[]): { sizes: string[]; out: string } {
  let sizes = DEFAULT_SIZES;
  let out = path.join(__dirname, '..', '..', 'docs', 'screenshots');
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--sizes' && argv[i + 1]) sizes = argv[++i].split(',');
    else if (a === '--out' && argv[i + 1]) out = path.resolve(argv[++i]);
    else throw new Error(`usage: run.ts [--sizes 320x240,480x320,1920x1080] [--out dir]; got "${a}"`);
  }
  for (const s of sizes) if (!/^\d{3,4}x\d{3,4}$/.test(s)) throw new Error(`--sizes: "${s}" is not WxH`);
  return { sizes, out };
}

async function waitFor(step: Step, c: WalkContext): Promise<void> {
  const end = Date.now() + (step.timeoutMs ?? 10_000);
  while (!step.until(c)) {
    if (Date.now() > end) {
      const st = c.state();
      throw new Error(`step "${step.does}": timed out; the terminal is in ${st.state}, screen ${st.screen} (${JSON.stringify(c.screen()).slice(0, 200)})`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The frame, encoded again with the strongest compression (same pixels, smaller file). */
async function smallPng(png: Buffer): Promise<Buffer> {
  const img = await loadImage(png);
  const canvas = createCanvas(img.width, img.height);
  canvas.getContext('2d').drawImage(img, 0, 0);
  const again = canvas.toBuffer('image/png', { compressionLevel: 9, filters: Canvas.PNG_ALL_FILTERS });
  return again.length < png.length ? again : png;
}

/** Runs the walk at one size; returns the screens saved, in order. */
export async function shootSize(size: string, outDir: string, log: (line: string) => void = () => undefined): Promise<Shot[]> {
  const [width, height] = size.split('x').map(Number);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-screenshots-'));
  const demo = await startDemo(demoOptions({ dataDir, merchantName: 'qrpos demo shop', width, height, methods: WALK_METHODS }));
  const shots: Shot[] = [];
  try {
    await demo.ready;
    const c: WalkContext = { demo, screen: () => demo.terminal.lastScreen(), state: () => demo.terminal.status(), sale: null };
    const dir = path.join(outDir, size);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    for (const step of WALK) {
      if (step.act) await step.act(c);
      const keys = keysOf(step, c);
      if (keys.length) demo.press(...keys);
      await waitFor(step, c);
      if (!step.file) continue;
      // The frame of the screen the step waited for, once nothing more is being drawn.
      await demo.terminal.idle();
      const file = `${String(shots.length + 1).padStart(2, '0')}-${step.file}.png`;
      fs.writeFileSync(path.join(dir, file), await smallPng(demo.display.png()));
      shots.push({ file, title: step.title ?? step.does, does: step.does });
      log(`  ${size}/${file}`);
    }
  } finally {
    await demo.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  return shots;
}

/** docs/screenshots/README.md: a table per size. */
export function indexPage(bySize: { size: string; shots: Shot[] }[]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const out = [
    '# Terminal screens',
    '',
    'The terminal\'s own frames (the PNG of its virtual display), saved by `npm run screenshots`',
    '(scripts/screenshots/run.ts) from the real demo: simulator, relay and terminal, walking through',
    'a day at the counter (scripts/screenshots/walk.ts). Generated: edit the walk, not this file.',
    '',
  ];
  for (const { size, shots } of bySize) {
    const thumb = Number(size.split('x')[0]) > 480 ? 480 : Number(size.split('x')[0]);
    out.push(`## ${size}`, '', '| # | Screen | How | Frame |', '|---|---|---|---|');
    for (const s of shots) {
      out.push(`| ${s.file.slice(0, 2)} | ${esc(s.title)} | ${esc(s.does)} | <a href="${size}/${s.file}"><img src="${size}/${s.file}" width="${thumb}" alt="${esc(s.title)}"></a> |`);
    }
    out.push('');
  }
  return out.join('\n');
}

async function main(): Promise<void> {
  const { sizes, out } = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  const bySize: { size: string; shots: Shot[] }[] = [];
  for (const size of sizes) {
    const t = Date.now();
    process.stdout.write(`${size}:\n`);
    const shots = await shootSize(size, out, (l) => process.stdout.write(`${l}\n`));
    bySize.push({ size, shots });
    process.stdout.write(`  ${shots.length} screens in ${((Date.now() - t) / 1000).toFixed(1)} s\n`);
  }
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'README.md'), indexPage(bySize));
  process.stdout.write(`wrote ${path.join(out, 'README.md')} in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`screenshots: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}

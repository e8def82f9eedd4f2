/**
 * The terminal's one-file bundle (scripts/bundle-terminal.cjs): what `qrpos terminal` runs when
 * dist/src/cli/terminal.js is there. It must behave as the compiled program does, leave the other
 * commands and the native packages outside, and carry only zod's English messages.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '..');
const built = fs.existsSync(path.join(ROOT, 'dist', 'src', 'cli', 'main.js'));
const { bundleTerminal } = require('./bundle-terminal.cjs') as { bundleTerminal: (outDir: string) => Promise<{ outfile: string; inputs: number; bytes: number }> };

describe('the terminal bundle', () => {
  let dir: string;
  let out: { outfile: string; inputs: number; bytes: number };
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-bundle-terminal-'));
    out = await bundleTerminal(dir);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is one file in dist/src/cli, with the other commands and the native packages left outside', () => {
    expect(out.outfile).toBe(path.join(dir, 'src', 'cli', 'terminal.js'));
    const js = fs.readFileSync(out.outfile, 'utf8');
    for (const external of ['../simulator/cli', '../relay/cli', '../demo/cli', '../release/device-cli', 'canvas', 'better-sqlite3', 'koffi']) {
      expect(js).toContain(`require("${external}")`);
    }
    expect(out.inputs).toBeGreaterThan(100);
  });

  it("carries zod's English messages only", () => {
    const js = fs.readFileSync(out.outfile, 'utf8');
    expect(js).toContain('Invalid input');
    // Dutch and German: two of the locales zod's namespace would otherwise bring along (esbuild
    // writes non-ASCII characters as \u escapes).
    expect(js).not.toContain('Ongeldige invoer');
    expect(js).not.toMatch(/Ung(ü|\\u00FC)ltige Eingabe/i);
  });

  it.skipIf(!built || !fs.existsSync(path.join(ROOT, 'dist', 'src', 'cli', 'terminal.js')))('`qrpos terminal` from the bundle answers as the compiled program does', () => {
    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(bad, JSON.stringify({ version: 1, currency: 'XYZ', relayUrl: 'ftp://x' }));
    const args = ['terminal', 'journal', 'check', '--config', bad];
    const viaBundle = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'qrpos.cjs'), ...args], { encoding: 'utf8' });
    const viaDist = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(path.join(ROOT, 'dist', 'src', 'cli', 'main.js'))}).main(process.argv.slice(1)).then((c) => { process.exitCode = c; })`, ...args], { encoding: 'utf8' });
    expect(viaBundle.stderr).toContain('currency: Invalid option: expected one of "THB"|"SGD"|"MYR"');
    expect({ status: viaBundle.status, stdout: viaBundle.stdout, stderr: viaBundle.stderr }).toEqual({ status: viaDist.status, stdout: viaDist.stdout, stderr: viaDist.stderr });
    const help = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'qrpos.cjs'), 'terminal', '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('usage: qrpos terminal --config <file>');
  });
});

import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { parseFlags, UsageError } from '../shared/args';
import { command } from '../terminal/cli';

const ROOT = path.resolve(__dirname, '../..');
const qrpos = (...args: string[]) => spawnSync(process.execPath, [path.join(ROOT, 'scripts/qrpos.cjs'), ...args], { encoding: 'utf8' });

describe('qrpos command line', () => {
  it('lists its commands with --help', () => {
    const r = qrpos('--help');
    expect(r.status).toBe(0);
    for (const c of ['sim', 'relay', 'terminal', 'demo']) expect(r.stdout).toContain(c);
  });

  it('rejects unknown commands with exit code 2', () => {
    const r = qrpos('frobnicate');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('unknown command "frobnicate"');
  });

  it("gives a subcommand's own help: qrpos terminal journal --help", () => {
    expect(command.helpFor?.(['journal', '--help'])).toMatch(/^usage: qrpos terminal journal check --config <file>/);
    expect(command.helpFor?.(['--help'])).toBeUndefined();
  });

  it('rejects bad flags with exit code 2', () => {
    const r = qrpos('sim', '--no-such-flag');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--no-such-flag');
  });
});

describe('flag parser', () => {
  const specs = { port: { type: 'number' as const, description: 'p' }, name: { description: 'n' }, v: { type: 'boolean' as const, description: 'v' } };
  it('parses values, = form and booleans', () => {
    expect(parseFlags(['--port', '80', '--name=x', '--v'], specs).flags).toEqual({ port: 80, name: 'x', v: true });
  });
  it('names the flag in errors', () => {
    expect(() => parseFlags(['--port', 'abc'], specs)).toThrow(UsageError);
    expect(() => parseFlags(['--port'], specs)).toThrow('--port needs a value');
    expect(() => parseFlags(['--nope'], specs)).toThrow('unknown flag --nope');
  });
});

import { describe, expect, it } from 'vitest';
import { parseUnitEnvironment, terminalUnitEnvironment } from './service-env';

describe('unit Environment= parsing', () => {
  it('reads plain and quoted assignments, later ones win, other lines ignored', () => {
    const text = ['[Service]', 'Environment=A=1 "NODE_OPTIONS=--x=1 --y=2" B=two', "Environment='C=a b' A=3", 'ExecStart=/bin/true Environment=NOT=this'].join('\n');
    expect(parseUnitEnvironment(text)).toEqual({ A: '3', NODE_OPTIONS: '--x=1 --y=2', B: 'two', C: 'a b' });
  });

  it('refuses what it cannot read instead of guessing', () => {
    expect(() => parseUnitEnvironment('Environment=NOVALUE')).toThrow(/NOVALUE/);
    expect(() => parseUnitEnvironment('Environment=1X=2')).toThrow(/1X=2/);
  });

  it('the shipped unit bounds V8 for a small device with a wide margin over the live heap', () => {
    const env = terminalUnitEnvironment();
    expect(env.NODE_ENV).toBe('production');
    const opts = env.NODE_OPTIONS ?? '';
    expect(opts).toMatch(/--max-semi-space-size=1\b/);
    // The daemon's live heap is ~15 MB; a hard limit near it would crash it under a burst.
    const old = /--max-old-space-size=(\d+)/.exec(opts);
    expect(old && Number(old[1])).toBeGreaterThanOrEqual(192);
  });
});

/**
 * The broken-on-purpose releases of the booted upgrade test are made from the source as it is
 * now: every anchor is found exactly once (so a change to the code they touch fails here, in the
 * ordinary test run, not ten minutes into the booted test), and the compiled result carries the
 * change.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { JOURNAL_SCHEMA_VERSION } from '../../../src/terminal/journal';
import { SCHEMA_VERSION as RELAY_SCHEMA_VERSION } from '../../../src/relay/sqlite-store';
import { applyEdit, buildVariantDist, compileVariant, VariantError, VARIANTS } from './variants';

describe('release variants for the booted upgrade test', () => {
  it.each(Object.keys(VARIANTS))('%s applies to the source as it is and compiles', (name) => {
    const files = compileVariant(name);
    expect(files.size).toBeGreaterThan(0);
    for (const js of files.values()) expect(js).toContain('exports');
  });

  it('the journal variants migrate one schema above this checkout, whatever it is', () => {
    for (const name of ['upg-d-migrates', 'upg-g-never-ready']) {
      const js = compileVariant(name).get('src/terminal/journal.js')!;
      expect(js).toContain(`const SCHEMA_VERSION = ${JOURNAL_SCHEMA_VERSION + 1};`);
      expect(js).toContain("[SCHEMA_VERSION]: 'CREATE TABLE upgrade_test (x INTEGER);'");
    }
    expect(compileVariant('upg-h-relay-migrates').get('src/relay/sqlite-store.js')).toMatch(/MIGRATIONS\.push\('CREATE TABLE upgrade_test \(x INTEGER\);'\);\s*exports\.SCHEMA_VERSION = MIGRATIONS\.length;/);
    expect(RELAY_SCHEMA_VERSION).toBeGreaterThan(0);
  });

  it('an anchor that is missing or there twice stops the build and says where', () => {
    const edit = { file: 'src/x.ts', anchor: 'const A = 1;', with: 'const A = 2;' };
    expect(() => applyEdit('const B = 1;', edit, 'upg-test')).toThrow(VariantError);
    expect(() => applyEdit('const B = 1;', edit, 'upg-test')).toThrow(/variant upg-test, src\/x\.ts: the anchor "const A = 1;" is there 0 times/);
    expect(() => applyEdit('const A = 1;\nconst A = 1;', edit, 'upg-test')).toThrow(/is there 2 times/);
    expect(() => applyEdit('x\nconst A = 1;\n', { ...edit, anchor: /^const A = (\d+);$/m }, 'upg-test')).not.toThrow();
    expect(() => applyEdit('const A = 1;', { ...edit, anchor: /^const Z = (\d+);$/m }, 'upg-test')).toThrow(/matches 0 times/);
    expect(applyEdit('a const A = 1; b', edit, 'v')).toBe('a const A = 2; b');
  });

  it('builds a dist copy with only the changed files replaced (and their stale source maps dropped)', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-variants-'));
    try {
      const dist = path.join(tmp, 'dist');
      for (const rel of ['src/terminal/cli.js', 'src/terminal/cli.js.map', 'src/other.js']) {
        fs.mkdirSync(path.dirname(path.join(dist, rel)), { recursive: true });
        fs.writeFileSync(path.join(dist, rel), `// original ${rel}\n`);
      }
      const out = path.join(tmp, 'out');
      expect(buildVariantDist('upg-c-exits', dist, out)).toEqual(['src/terminal/cli.js']);
      expect(fs.readFileSync(path.join(out, 'src/terminal/cli.js'), 'utf8')).toContain('broken release (test): exits at start');
      expect(fs.existsSync(path.join(out, 'src/terminal/cli.js.map'))).toBe(false);
      expect(fs.readFileSync(path.join(out, 'src/other.js'), 'utf8')).toBe('// original src/other.js\n');
      expect(fs.readFileSync(path.join(dist, 'src/terminal/cli.js'), 'utf8')).toBe('// original src/terminal/cli.js\n');
      // A dist without the file to replace is not this checkout's: refused before anything is copied.
      expect(() => buildVariantDist('upg-h-relay-migrates', dist, path.join(tmp, 'out2'))).toThrow(/has no src\/relay\/sqlite-store\.js/);
      expect(fs.existsSync(path.join(tmp, 'out2'))).toBe(false);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});

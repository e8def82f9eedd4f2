/**
 * What `npm run build` compiles is what ships to devices (dist/ in a release bundle): the
 * product only. Test rigs, sample screens, fakes that are not a driver's documented fake,
 * benchmarks and the release build tools stay out, and no product module may import them
 * (an import would pull them back into the build).
 */
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '..');

/** Test-only or build-host-only code: never compiled into dist/. */
const NOT_PRODUCT = [/\.test\.ts$/, /\/testing\//, /\/testing\.ts$/, /\/testkit\.ts$/, /^scripts\/bench\//, /^scripts\/screenshots\//, /^src\/release\/(build|cli)\.ts$/];

function builtSources(): string[] {
  const file = path.join(ROOT, 'tsconfig.json');
  const parsed = ts.parseJsonConfigFileContent(ts.readConfigFile(file, (f) => ts.sys.readFile(f)).config, ts.sys, ROOT);
  const program = ts.createProgram(parsed.fileNames, parsed.options);
  return program
    .getSourceFiles()
    .map((s) => path.relative(ROOT, s.fileName))
    .filter((f) => !f.startsWith('node_modules') && !f.startsWith('..') && !f.endsWith('.d.ts'));
}

describe('the build output', () => {
  it('holds no test rig, sample, benchmark or release build tool, and nothing in it imports one', () => {
    const built = builtSources();
    expect(built.length).toBeGreaterThan(100);
    expect(built).toContain('src/terminal/daemon.ts');
    expect(built).toContain('drivers/serial/fake.ts'); // the serial driver's documented fake stays: the demo uses it
    expect(built.filter((f) => NOT_PRODUCT.some((re) => re.test(f)))).toEqual([]);
  });
});

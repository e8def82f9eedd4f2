/**
 * Releases broken on purpose, for the booted upgrade test (scripts/release/upgrade-nspawn.sh):
 * each variant is this checkout's compiled dist/ with a few TypeScript source files changed by a
 * small, explicit edit and compiled again (ts.transpileModule, the project's compiler options).
 *
 * The edits are made to the TypeScript source, not to compiled JavaScript, and each anchor must
 * be found exactly once: when someone changes the code an anchor names, building the variant
 * fails at once and says which variant, file and anchor (variants.test.ts checks every variant
 * against the source as it is, in the ordinary test run). Schema numbers are read, not assumed:
 * "one more journal migration" stays one more when the journal reaches schema 5.
 *
 *   tsx scripts/release/testing/variants.ts --dist DIR --variant NAME --out DIR
 *     copies DIR (a tsc output of this checkout) to --out with NAME's edits compiled in
 *   tsx scripts/release/testing/variants.ts --check      applies every variant in memory
 */
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

export const REPO = path.resolve(__dirname, '..', '..', '..');

/** One change to one source file. `anchor` must match exactly once. */
export interface Edit {
  file: string;
  anchor: string | RegExp;
  /** What to put in place of the anchor; a function gets the match (for a number read from it). */
  with: string | ((m: RegExpExecArray) => string);
}

export interface Variant {
  /** What the broken release does, as the upgrade test expects it. */
  does: string;
  edits: Edit[];
}

const TERMINAL_CLI = 'src/terminal/cli.ts';
const CLI_RUN = 'async run(argv: string[]): Promise<number> {';
/** The journal gets one more migration than this checkout has (its number read from the source). */
const journalOneMore: Edit[] = [
  { file: 'src/terminal/journal.ts', anchor: /^const SCHEMA_VERSION = (\d+);$/m, with: (m) => `const SCHEMA_VERSION = ${Number(m[1]) + 1};` },
  {
    file: 'src/terminal/journal.ts',
    anchor: /^const MIGRATIONS: Record<number, string> = \{$/m,
    with: (m) => `${m[0]}\n  [SCHEMA_VERSION]: 'CREATE TABLE upgrade_test (x INTEGER);',`,
  },
];

export const VARIANTS: Record<string, Variant> = {
  'upg-c-exits': {
    does: 'every command but `journal` (the self-test) exits with 3 at start',
    edits: [
      {
        file: TERMINAL_CLI,
        anchor: CLI_RUN,
        with: `${CLI_RUN} if (argv[0] !== 'journal') { process.stderr.write('broken release (test): exits at start\\n'); process.exit(3); }`,
      },
    ],
  },
  'upg-d-migrates': {
    does: 'migrates the journal one schema up, then exits before READY',
    edits: [
      ...journalOneMore,
      {
        file: 'src/terminal/daemon.ts',
        anchor: "stops.push({ name: 'journal', fn: () => journal.close() });",
        with: "stops.push({ name: 'journal', fn: () => journal.close() }); process.stderr.write('broken release (test): exits after opening (migrating) the journal\\n'); process.exit(5);",
      },
    ],
  },
  'upg-f-hangs': {
    does: 'the daemon never gets READY',
    edits: [
      {
        file: TERMINAL_CLI,
        anchor: CLI_RUN,
        with: `${CLI_RUN} if (argv[0] !== 'journal') { process.stderr.write('broken release (test): hangs, never READY\\n'); await new Promise(() => setInterval(() => undefined, 1 << 30)); }`,
      },
    ],
  },
  'upg-g-never-ready': {
    does: 'migrates the journal one schema up, gets READY, never ready to sell',
    edits: [...journalOneMore, { file: 'src/terminal/daemon.ts', anchor: /\bready: st\.ok && !held,/, with: 'ready: false,' }],
  },
  'upg-h-relay-migrates': {
    does: "the relay migrates its database one schema up, then exits before READY",
    edits: [
      {
        file: 'src/relay/sqlite-store.ts',
        anchor: /^export const SCHEMA_VERSION = MIGRATIONS\.length;$/m,
        with: "MIGRATIONS.push('CREATE TABLE upgrade_test (x INTEGER);');\nexport const SCHEMA_VERSION = MIGRATIONS.length;",
      },
      {
        file: 'src/relay/cli.ts',
        anchor: 'relay = await startRelay({ config, secrets, log });',
        with: "relay = await startRelay({ config, secrets, log }); process.stderr.write('broken release (test): the relay exits after opening (migrating) its database\\n'); process.exit(6);",
      },
    ],
  },
};

export class VariantError extends Error {}

/** `source` with one edit made; throws unless its anchor is there exactly once. */
export function applyEdit(source: string, edit: Edit, variant: string): string {
  const where = `variant ${variant}, ${edit.file}`;
  if (typeof edit.anchor === 'string') {
    const n = source.split(edit.anchor).length - 1;
    if (n !== 1) throw new VariantError(`${where}: the anchor ${JSON.stringify(edit.anchor)} is there ${n} times (needs exactly 1); update scripts/release/testing/variants.ts to the code as it is now`);
    const i = source.indexOf(edit.anchor);
    const m = Object.assign([edit.anchor], { index: i, input: source }) as RegExpExecArray;
    const w = typeof edit.with === 'function' ? edit.with(m) : edit.with;
    return source.slice(0, i) + w + source.slice(i + edit.anchor.length);
  }
  const re = new RegExp(edit.anchor.source, edit.anchor.flags.includes('g') ? edit.anchor.flags : `${edit.anchor.flags}g`);
  const all = [...source.matchAll(re)];
  if (all.length !== 1) throw new VariantError(`${where}: the anchor ${String(edit.anchor)} matches ${all.length} times (needs exactly 1); update scripts/release/testing/variants.ts to the code as it is now`);
  const m = all[0];
  const w = typeof edit.with === 'function' ? edit.with(m) : edit.with;
  return source.slice(0, m.index) + w + source.slice(m.index + m[0].length);
}

/** The changed source files of a variant: relative .ts path → edited text. */
export function editedSources(name: string, repo = REPO): Map<string, string> {
  const v = VARIANTS[name];
  if (!v) throw new VariantError(`no variant "${name}" (known: ${Object.keys(VARIANTS).join(', ')})`);
  const out = new Map<string, string>();
  for (const e of v.edits) {
    const before = out.get(e.file) ?? fs.readFileSync(path.join(repo, e.file), 'utf8');
    out.set(e.file, applyEdit(before, e, name));
  }
  return out;
}

function compilerOptions(repo: string): ts.CompilerOptions {
  const file = path.join(repo, 'tsconfig.json');
  const read = ts.readConfigFile(file, (f) => ts.sys.readFile(f));
  if (read.error) throw new VariantError(`${file}: ${ts.flattenDiagnosticMessageText(read.error.messageText, '\n')}`);
  return ts.parseJsonConfigFileContent(read.config, ts.sys, repo).options;
}

/** The compiled JavaScript of each changed file: relative .js path (as in dist/) → text. */
export function compileVariant(name: string, repo = REPO): Map<string, string> {
  const options = { ...compilerOptions(repo), sourceMap: false, inlineSourceMap: false };
  const out = new Map<string, string>();
  for (const [file, text] of editedSources(name, repo)) {
    const r = ts.transpileModule(text, { compilerOptions: options, fileName: path.join(repo, file), reportDiagnostics: true });
    const errors = (r.diagnostics ?? []).filter((d) => d.category === ts.DiagnosticCategory.Error);
    if (errors.length) throw new VariantError(`variant ${name}, ${file}: ${errors.map((d) => ts.flattenDiagnosticMessageText(d.messageText, ' ')).join('; ')}`);
    out.set(file.replace(/\.ts$/, '.js'), r.outputText);
  }
  return out;
}

/** Copies `dist` to `out` with the variant's files compiled in place of this checkout's. */
export function buildVariantDist(name: string, dist: string, out: string, repo = REPO): string[] {
  const files = compileVariant(name, repo);
  for (const rel of files.keys()) {
    if (!fs.existsSync(path.join(dist, rel))) throw new VariantError(`variant ${name}: ${dist} has no ${rel} (is it a tsc output of this checkout?)`);
  }
  fs.rmSync(out, { recursive: true, force: true });
  fs.cpSync(dist, out, { recursive: true, verbatimSymlinks: true });
  for (const [rel, js] of files) {
    fs.writeFileSync(path.join(out, rel), js);
    // tsc's source map describes the unchanged file: drop it rather than mislead a stack trace.
    fs.rmSync(path.join(out, `${rel}.map`), { force: true });
  }
  return [...files.keys()];
}

function main(argv: string[]): number {
  const arg = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  try {
    if (argv.includes('--check')) {
      for (const name of Object.keys(VARIANTS)) process.stdout.write(`${name}: ${[...compileVariant(name).keys()].join(', ')} (${VARIANTS[name].does})\n`);
      return 0;
    }
    const [dist, name, out] = [arg('--dist'), arg('--variant'), arg('--out')];
    if (!dist || !name || !out) {
      process.stderr.write('usage: variants.ts --dist DIR --variant NAME --out DIR | --check\n');
      return 2;
    }
    const changed = buildVariantDist(name, path.resolve(dist), path.resolve(out));
    process.stdout.write(`${name} (${VARIANTS[name].does}): ${changed.join(', ')}\n`);
    return 0;
  } catch (err) {
    if (err instanceof VariantError) {
      process.stderr.write(`variants: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));

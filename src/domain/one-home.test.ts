/**
 * One home for every rule: the currencies (with their countries, symbols, exponents and limits)
 * live in src/domain/money.ts, and the sale and charge statuses (which are final, which moves are
 * allowed) in src/domain/status.ts. Everything else imports them. This test reads every
 * TypeScript source under src/, drivers/ and scripts/ (tests left out) with the TypeScript
 * compiler and fails when another module declares a currency table or a status list again.
 *
 * A currency table: an array literal, object literal (keys or string values), union or tuple
 * type, or enum naming two or more of THB, SGD, MYR (so `z.enum([...])` and a country → currency
 * map count). A status list: the same shapes naming three or more sale or charge statuses.
 */
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '../..');
const SCANNED = ['src', 'drivers', 'scripts'];

interface Rule {
  name: string;
  home: string;
  names: ReadonlySet<string>;
  atLeast: number;
}

export const RULES: readonly Rule[] = [
  { name: 'currency table', home: 'src/domain/money.ts', names: new Set(['THB', 'SGD', 'MYR']), atLeast: 2 },
  {
    name: 'status list',
    home: 'src/domain/status.ts',
    names: new Set(['recorded', 'creating', 'create_failed', 'pending', 'successful', 'failed', 'expired', 'reversed']),
    atLeast: 3,
  },
];

export interface Finding {
  rule: string;
  file: string;
  line: number;
  text: string;
}

/** Every .ts source under the scanned folders, tests and node_modules left out. */
export function sourceFiles(root = ROOT): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (e.name === 'node_modules' || e.name === 'dist' || e.name.startsWith('.')) continue;
      const full = path.join(dir, e.name);
      if (e.isDirectory()) walk(full);
      else if (/\.(c|m)?tsx?$/.test(e.name) && !/\.d\.(c|m)?ts$/.test(e.name) && !/\.test\.(c|m)?tsx?$/.test(e.name)) out.push(full);
    }
  };
  for (const top of SCANNED) if (fs.existsSync(path.join(root, top))) walk(path.join(root, top));
  return out.sort();
}

/** The string a node stands for, when it is a string literal (or `z.literal('x')`, or a literal type). */
function literalOf(node: ts.Node): string | undefined {
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text;
  if (ts.isLiteralTypeNode(node)) return literalOf(node.literal);
  if (ts.isAsExpression(node) || ts.isSatisfiesExpression(node) || ts.isParenthesizedExpression(node)) return literalOf(node.expression);
  if (ts.isCallExpression(node) && node.arguments.length === 1) {
    const callee = node.expression;
    const name = ts.isPropertyAccessExpression(callee) ? callee.name.text : ts.isIdentifier(callee) ? callee.text : '';
    if (name === 'literal') return literalOf(node.arguments[0]);
  }
  return undefined;
}

function nameOf(name: ts.PropertyName): string | undefined {
  if (ts.isIdentifier(name) || ts.isStringLiteral(name) || ts.isNoSubstitutionTemplateLiteral(name)) return name.text;
  return undefined;
}

/** The names a list-like node declares: array elements, object keys and string values, union/tuple members, enum members. */
function namesIn(node: ts.Node): string[] | undefined {
  if (ts.isArrayLiteralExpression(node)) return node.elements.map(literalOf).filter((s): s is string => s !== undefined);
  if (ts.isObjectLiteralExpression(node)) {
    const out: string[] = [];
    for (const p of node.properties) {
      if (!p.name) continue;
      const key = nameOf(p.name);
      if (key !== undefined) out.push(key);
      if (ts.isPropertyAssignment(p)) {
        const value = literalOf(p.initializer);
        if (value !== undefined) out.push(value);
      }
    }
    return out;
  }
  if (ts.isUnionTypeNode(node)) return node.types.map(literalOf).filter((s): s is string => s !== undefined);
  if (ts.isTupleTypeNode(node)) return node.elements.map(literalOf).filter((s): s is string => s !== undefined);
  if (ts.isEnumDeclaration(node)) {
    const out: string[] = [];
    for (const m of node.members) {
      const key = nameOf(m.name);
      if (key !== undefined) out.push(key);
      if (m.initializer) {
        const value = literalOf(m.initializer);
        if (value !== undefined) out.push(value);
      }
    }
    return out;
  }
  return undefined;
}

/** Every currency table and status list declared in `text` (as `file`), outside the rule's home. */
export function findDeclarations(file: string, text: string, rules: readonly Rule[] = RULES): Finding[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, file.endsWith('x') ? ts.ScriptKind.TSX : ts.ScriptKind.TS);
  const found: Finding[] = [];
  const visit = (node: ts.Node): void => {
    const names = namesIn(node);
    if (names) {
      for (const rule of rules) {
        if (file === rule.home) continue;
        const hits = new Set(names.filter((n) => rule.names.has(n)));
        if (hits.size >= rule.atLeast) {
          const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
          const snippet = node.getText(source).replace(/\s+/g, ' ');
          found.push({ rule: rule.name, file, line, text: snippet.length > 90 ? `${snippet.slice(0, 90)}…` : snippet });
        }
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/**
 * Declarations that still live in files this change could not touch, each with the exact text
 * that is there. An entry fails the test once its text is gone: remove it then, and keep this
 * list shrinking.
 */
const NOT_YET_MOVED: readonly { file: string; rule: string; text: string }[] = [];

function scan(): Finding[] {
  return sourceFiles().flatMap((full) => {
    const file = path.relative(ROOT, full).split(path.sep).join('/');
    return findDeclarations(file, fs.readFileSync(full, 'utf8'));
  });
}

describe('one home for every rule', () => {
  it('finds the tables in their homes, so the scan itself works', () => {
    const homes = RULES.flatMap((r) => findDeclarations(`elsewhere/${path.basename(r.home)}`, fs.readFileSync(path.join(ROOT, r.home), 'utf8'), [r]));
    expect(homes.filter((f) => f.rule === 'currency table').length).toBeGreaterThan(0);
    expect(homes.filter((f) => f.rule === 'status list').length).toBeGreaterThan(0);
  });

  it('recognises every shape of a currency table or status list', () => {
    const text = [
      "const a = ['THB', 'SGD'];",
      "const b = z.enum(['THB', 'SGD', 'MYR']);",
      "const c = { TH: 'THB', SG: 'SGD' };",
      "const d: Record<string, number> = { THB: 2000, MYR: 100 };",
      "type E = 'pending' | 'successful' | 'failed';",
      "const f = z.union([z.literal('pending'), z.literal('expired'), z.literal('reversed')]);",
      'enum G { recorded, creating, pending }',
      "const h = { recorded: 0, creating: 1, pending: 2 };",
      "const ok1 = ['pending', 'done', 'failed'];",
      "const ok2 = { currency: 'THB', status: 'successful' };",
    ].join('\n');
    const found = findDeclarations('src/x.ts', text).map((f) => `${f.line} ${f.rule}`);
    expect(found).toEqual(['1 currency table', '2 currency table', '3 currency table', '4 currency table', '5 status list', '6 status list', '7 status list', '8 status list']);
  });

  it('no module outside src/domain declares a currency table or a status list', () => {
    const found = scan();
    const pending = NOT_YET_MOVED.filter((p) => found.some((f) => f.file === p.file && f.rule === p.rule && f.text.includes(p.text)));
    const stale = NOT_YET_MOVED.filter((p) => !pending.includes(p));
    const left = found.filter((f) => !NOT_YET_MOVED.some((p) => f.file === p.file && f.rule === p.rule && f.text.includes(p.text)));
    const where = (f: Finding) => `${f.file}:${f.line}: a ${f.rule} (its home is ${RULES.find((r) => r.name === f.rule)?.home}): ${f.text}`;
    expect(left.map(where), 'import the list or table from its home instead').toEqual([]);
    expect(
      stale.map((p) => `${p.file}: ${p.text}`),
      'gone from its file: remove it from NOT_YET_MOVED',
    ).toEqual([]);
  });
});

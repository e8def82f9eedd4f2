/**
 * Shared settings of the property-based fuzz tests (`*.fuzz.test.ts`): a fixed seed, so a
 * failure reproduces, and a bounded number of runs, so each file stays within seconds on a
 * busy machine. `FUZZ_SEED=<n>` reruns every fuzz test with another seed; `FUZZ_SCALE=<k>`
 * multiplies the runs (fast-check prints the seed and the counterexample path of a failure).
 */
import fc, { type Parameters } from 'fast-check';

export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 1616);
const RUN_SCALE = Number(process.env.FUZZ_SCALE ?? 1);

export function fuzzParams<T = unknown>(numRuns: number): Parameters<T> {
  return { seed: FUZZ_SEED, numRuns: Math.max(1, Math.round(numRuns * (Number.isFinite(RUN_SCALE) ? RUN_SCALE : 1))) };
}

export type TextEdit = [at: number, op: 'insert' | 'delete' | 'replace', ch: string];

/** One small edit of a text at any place, with a character from `chars`: a slip in an editor. */
export function textEdit(chars: string): fc.Arbitrary<TextEdit> {
  return fc.tuple(fc.nat(), fc.constantFrom('insert' as const, 'delete' as const, 'replace' as const), fc.constantFrom(...chars));
}

export function applyEdit(text: string, [at, op, ch]: TextEdit): string {
  const i = at % (text.length + 1);
  if (op === 'insert') return text.slice(0, i) + ch + text.slice(i);
  if (op === 'delete') return text.slice(0, i) + text.slice(i + 1);
  return text.slice(0, i) + ch + text.slice(i + 1);
}

export function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

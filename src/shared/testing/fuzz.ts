/**
 * Shared settings of the property-based fuzz tests (`*.fuzz.test.ts`): a fixed seed, so a
 * failure reproduces, and a bounded number of runs, so each file stays within seconds on a
 * busy machine. `FUZZ_SEED=<n>` reruns every fuzz test with another seed; `FUZZ_SCALE=<k>`
 * multiplies the runs (fast-check prints the seed and the counterexample path of a failure).
 */
import type { Parameters } from 'fast-check';

export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 1616);
const RUN_SCALE = Number(process.env.FUZZ_SCALE ?? 1);

export function fuzzParams<T = unknown>(numRuns: number): Parameters<T> {
  return { seed: FUZZ_SEED, numRuns: Math.max(1, Math.round(numRuns * (Number.isFinite(RUN_SCALE) ? RUN_SCALE : 1))) };
}

/** Test helper: a customer text is complete in every language. */
import { expect } from 'vitest';
import { LANGUAGES, type Messages } from '../locale';

const THAI = /[\u0E00-\u0E7F]/;
const HAN = /[\u4E00-\u9FFF]/;

/** Every language filled in, each in its own script; Malay Latin and not just the English. */
export function expectComplete(m: Messages, label: string): void {
  for (const l of LANGUAGES) expect(m[l].trim().length, `${label}.${l}`).toBeGreaterThan(1);
  expect(m.th, `${label}.th`).toMatch(THAI);
  expect(m.zh, `${label}.zh`).toMatch(HAN);
  for (const l of ['en', 'ms'] as const) {
    expect(m[l], `${label}.${l}`).not.toMatch(THAI);
    expect(m[l], `${label}.${l}`).not.toMatch(HAN);
  }
  expect(m.ms, `${label}.ms is Malay, not the English`).not.toBe(m.en);
}

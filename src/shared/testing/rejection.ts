/** Test support: the error a promise rejects with, checked to be of the expected class. */
import { expect } from 'vitest';

export async function rejectionOf<E extends Error>(p: Promise<unknown>, type: abstract new (...args: never[]) => E): Promise<E> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(type);
    return e as E;
  }
  throw new Error(`expected a rejection with ${type.name}`);
}

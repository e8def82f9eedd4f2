import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuzzParams } from '../shared/testing/fuzz';
import { decodeForm, encodeForm, FormError, type DecodedForm, type FormObject } from './form';

/** Field names as Omise uses them: no brackets, not empty, not a prototype key. */
const fieldName = fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !/[[\]]/.test(k) && !['__proto__', 'constructor', 'prototype'].includes(k));
const scalar = fc.oneof(fc.string({ maxLength: 20, unit: 'grapheme' }), fc.integer(), fc.boolean(), fc.constant(null));

/** Objects the encoder is given: up to four levels (the decoder's default depth), arrays of scalars. */
const formObject: fc.Arbitrary<FormObject> = fc.letrec<{ obj: FormObject }>((tie) => ({
  obj: fc.dictionary(
    fieldName,
    fc.oneof({ depthSize: 'small', maxDepth: 3 }, scalar, fc.array(scalar, { minLength: 1, maxLength: 4 }), tie('obj')),
    { maxKeys: 5 },
  ),
})).obj;

/** What decoding gives back: every scalar as its text, empty objects gone. */
function expected(obj: FormObject): DecodedForm {
  const out: DecodedForm = {};
  for (const [k, v] of Object.entries(obj)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) out[k] = v.map((x) => (x === null || x === undefined ? '' : String(x)));
    else if (v !== null && typeof v === 'object') {
      const child = expected(v);
      if (Object.keys(child).length) out[k] = child;
    } else out[k] = v === null ? '' : String(v);
  }
  return out;
}

function fieldCount(obj: FormObject): number {
  return Object.values(obj).reduce<number>(
    (n, v) => n + (Array.isArray(v) ? v.length : v !== null && typeof v === 'object' ? fieldCount(v) : 1),
    0,
  );
}

describe('Omise form encoding (fuzz)', () => {
  it('decodeForm(encodeForm(x)) gives x back, scalars as text', () => {
    fc.assert(
      fc.property(formObject, (obj) => {
        fc.pre(fieldCount(obj) <= 200);
        expect(decodeForm(encodeForm(obj))).toStrictEqual(expected(obj));
      }),
      fuzzParams(500),
    );
  });

  it('any body: a plain object or a FormError, never another exception, never a polluted prototype', () => {
    const formish = fc.array(fc.constantFrom(...'ab[]=&%+_2F5Bz\u00e9'.split(''), '__proto__', 'constructor', '%5B', '%ZZ', '%E0%A4%A'), { maxLength: 30 });
    fc.assert(
      fc.property(fc.oneof(formish.map((a) => a.join('')), fc.string({ maxLength: 60, unit: 'binary' })), (body) => {
        let out: DecodedForm;
        try {
          out = decodeForm(body);
        } catch (e) {
          expect(e).toBeInstanceOf(FormError);
          expect((e as Error).message.length).toBeLessThan(200);
          return;
        }
        const check = (node: DecodedForm | string[] | string) => {
          if (typeof node === 'string') return;
          expect(Object.getPrototypeOf(node)).toBe(Array.isArray(node) ? Array.prototype : Object.prototype);
          for (const [k, v] of Object.entries(node)) {
            expect(['__proto__', 'constructor', 'prototype']).not.toContain(k);
            check(v);
          }
        };
        check(out);
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      }),
      fuzzParams(3000),
    );
  });

  it('limits hold for any input: too many fields or too deep is a FormError', () => {
    fc.assert(
      fc.property(fc.integer({ min: 201, max: 2000 }), fc.integer({ min: 6, max: 50 }), (fields, depth) => {
        expect(() => decodeForm(Array.from({ length: fields }, (_, i) => `f${i}=1`).join('&'))).toThrow(FormError);
        expect(() => decodeForm(`a${'[b]'.repeat(depth)}=1`)).toThrow(FormError);
      }),
      fuzzParams(30),
    );
  });
});

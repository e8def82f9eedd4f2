import { describe, expect, it } from 'vitest';
import { decodeForm, encodeForm, FormError } from './form';

describe('bracket-notation forms', () => {
  it('encodes like the seed curl commands', () => {
    expect(encodeForm({ amount: 150000, currency: 'THB', source: { type: 'alipayplus_mpm' } })).toBe(
      'amount=150000&currency=THB&source%5Btype%5D=alipayplus_mpm',
    );
    expect(encodeForm({ metadata: { sale: 'a b&c', n: 1, ok: true, none: null }, skip: undefined })).toBe(
      'metadata%5Bsale%5D=a%20b%26c&metadata%5Bn%5D=1&metadata%5Bok%5D=true&metadata%5Bnone%5D=',
    );
    expect(encodeForm({ list: ['a', 'b'] })).toBe('list%5B%5D=a&list%5B%5D=b');
  });

  it('decodes what it encodes, raw brackets, + as space, and arrays', () => {
    const text = encodeForm({ amount: 150000, source: { type: 'alipayplus_mpm' }, metadata: { 'sale id': 'x=y&z', deep: { k: 'v' } } });
    expect(decodeForm(text)).toEqual({ amount: '150000', source: { type: 'alipayplus_mpm' }, metadata: { 'sale id': 'x=y&z', deep: { k: 'v' } } });
    expect(decodeForm('source[type]=alipayplus_mpm&a=1+2&flag')).toEqual({ source: { type: 'alipayplus_mpm' }, a: '1 2', flag: '' });
    expect(decodeForm('l[]=1&l[]=2')).toEqual({ l: ['1', '2'] });
    expect(decodeForm('')).toEqual({});
  });

  it('refuses malformed input with a FormError', () => {
    for (const bad of ['a=%E0%A4%A', 'a[b=1', '[a]=1', 'a]=1[', 'a=1&a[b]=2', 'a[b]=2&a=1', '__proto__[x]=1', 'a[constructor]=1', 'a[][b]=1', 'a[b][c][d][e][f]=1']) {
      expect(() => decodeForm(bad), bad).toThrow(FormError);
    }
    expect(() => decodeForm(Array.from({ length: 300 }, (_, i) => `k${i}=1`).join('&'))).toThrow(/too many fields/);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('never throws anything but FormError on random input', () => {
    let seed = 42;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const alphabet = 'ab[]=&%+_0x\u00e9\u0000';
    for (let i = 0; i < 3000; i++) {
      const len = rnd(40);
      let s = '';
      for (let j = 0; j < len; j++) s += alphabet[rnd(alphabet.length)];
      try {
        const out = decodeForm(s);
        expect(typeof out).toBe('object');
      } catch (e) {
        expect(e, s).toBeInstanceOf(FormError);
      }
    }
  });
});

import { describe, expect, it } from 'vitest';
import { FAILURE_CODES, failureMessages } from './failure';
import { countryFor, inLanguages, languagesOf, type Messages } from './locale';
import { COUNTRIES } from './money';
import { expectComplete } from './testing/messages';
import { walletsFor } from './wallets';

describe('customer languages by country', () => {
  it('TH: Thai, English · SG: English, Chinese · MY: Malay, English, Chinese', () => {
    expect(languagesOf('TH')).toEqual(['th', 'en']);
    expect(languagesOf('SG')).toEqual(['en', 'zh']);
    expect(languagesOf('MY')).toEqual(['ms', 'en', 'zh']);
    const m: Messages = { en: 'E', th: 'T', zh: 'Z', ms: 'M' };
    expect(inLanguages(m, 'TH')).toEqual(['T', 'E']);
    expect(inLanguages(m, 'SG')).toEqual(['E', 'Z']);
    expect(inLanguages(m, 'MY')).toEqual(['M', 'E', 'Z']);
    for (const c of COUNTRIES) expect(languagesOf(c)).toContain('en');
  });

  it('the country is the currency\'s; a different one is refused with what would be right', () => {
    expect(countryFor('THB')).toBe('TH');
    expect(countryFor('SGD', 'SG')).toBe('SG');
    expect(countryFor('MYR', 'MY')).toBe('MY');
    expect(() => countryFor('SGD', 'MY')).toThrow('country MY does not match currency SGD (SGD is the currency of SG); set country to SG or leave it out');
  });

  it('failure messages exist in every language, Malay included', () => {
    for (const code of [...FAILURE_CODES, 'something_new', null]) expectComplete(failureMessages(code), String(code));
    const texts = FAILURE_CODES.map((c) => failureMessages(c).ms);
    expect(new Set(texts).size).toBe(texts.length);
  });
});

describe('Alipay+ wallets by merchant country (Omise MPM table)', () => {
  it('lists names only, per country', () => {
    const all = ['Alipay', 'AlipayHK', 'Kakao Pay', 'GCash', "Touch 'n Go eWallet", 'TrueMoney'];
    expect(walletsFor('TH')).toEqual(all);
    expect(walletsFor('SG')).toEqual(all);
    expect(walletsFor('MY')).toEqual(['AlipayHK', 'Kakao Pay']);
  });
});

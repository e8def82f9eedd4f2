/**
 * Which languages the customer sees, by the terminal's country: the one home for that rule.
 *
 * Customer-facing text (scan prompt, results, failure reasons…) is written in every language
 * below (a `Messages` value); a screen shows the country's languages, in this order:
 *
 *   TH: Thai, English · SG: English, Chinese · MY: Malay, English, Chinese
 *
 * Chinese is Simplified (what Singapore and Malaysia use, and what mainland Alipay users read).
 * Operator-only text (status strip, supervisor menu) stays English.
 */
import { countryOf, type Country, type Currency } from './money';

export type Language = 'en' | 'th' | 'zh' | 'ms';
export const LANGUAGES: readonly Language[] = ['en', 'th', 'zh', 'ms'];

/** One text in every customer language. */
export type Messages = Record<Language, string>;

const COUNTRY_LANGUAGES: Record<Country, readonly Language[]> = {
  TH: ['th', 'en'],
  SG: ['en', 'zh'],
  MY: ['ms', 'en', 'zh'],
};

/** The customer languages of a country, the main one first. */
export function languagesOf(country: Country): readonly Language[] {
  return COUNTRY_LANGUAGES[country];
}

/** The message in the country's languages, in order. */
export function inLanguages(m: Messages, country: Country): string[] {
  return COUNTRY_LANGUAGES[country].map((l) => m[l]);
}

/**
 * The terminal's country: the one configured, or the currency's. Alipay+ MPM through Omise
 * charges in the local currency, so a country that disagrees with the currency is a config
 * mistake; the message says what would be consistent.
 */
export function countryFor(currency: Currency, configured?: Country): Country {
  const implied = countryOf(currency);
  if (configured !== undefined && configured !== implied) {
    throw new RangeError(`country ${configured} does not match currency ${currency} (${currency} is the currency of ${implied}); set country to ${implied} or leave it out`);
  }
  return implied;
}

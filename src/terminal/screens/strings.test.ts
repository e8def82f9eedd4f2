import { describe, expect, it } from 'vitest';
import { failureMessages } from '../../domain/failure';
import { expectComplete } from '../../domain/testing/messages';
import type { Messages } from '../../domain/locale';
import * as strings from './strings';

describe('customer strings', () => {
  const all: [string, Messages][] = [
    ['SCAN_PROMPT', strings.SCAN_PROMPT],
    ['AMOUNT_LABEL', strings.AMOUNT_LABEL],
    ['CREATING', strings.CREATING],
    ['OFFLINE', strings.OFFLINE],
    ['OFFLINE_DETAIL', strings.OFFLINE_DETAIL],
    ['CONNECTION_LOST', strings.CONNECTION_LOST],
    ['RETRY_HINT', strings.RETRY_HINT],
    ...Object.entries(strings.OUTCOME_TITLE).map(([k, m]): [string, Messages] => [`OUTCOME_TITLE.${k}`, m]),
    ...Object.entries(strings.OUTCOME_DETAIL).map(([k, m]): [string, Messages] => [`OUTCOME_DETAIL.${k}`, m]),
  ];

  it('every customer text is written in English, Thai, Chinese and Malay', () => {
    for (const [name, m] of all) expectComplete(m, name);
  });

  it('one name per outcome: the operator name is the English title, and a failure without a code reads as the "failed" title', () => {
    for (const [k, m] of Object.entries(strings.OUTCOME_TITLE)) expect(strings.OUTCOME_NAME[k as strings.Outcome]).toBe(m.en);
    expect(failureMessages(undefined)).toEqual(strings.OUTCOME_TITLE.failed);
    expect(strings.OUTCOME_NAME).toEqual({
      paid: 'Paid',
      failed: 'Payment failed',
      expired: 'QR code expired',
      cancelled: 'Cancelled',
      late_paid: 'Late payment',
      not_created: 'Payment not created',
    });
  });
});

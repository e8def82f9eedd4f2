/**
 * The simulator's payment methods over loopback HTTP with the Omise client: which source types each
 * country's account takes, each method's limits, QR document format (decoded back to the payload),
 * failure codes, and refund/void rules.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OmiseClient } from '../omise/client';
import { OmiseError } from '../omise/api';
import { decodeQrDocument } from '../relay/qr-decode';
import { parseEmvco } from '../shared/emvco';
import { startSimulator, type SimulatorHandle } from './server';
import type { Country } from '../domain/money';

interface Account {
  sim: SimulatorHandle;
  client: OmiseClient;
}

async function account(country: Country): Promise<Account> {
  const sim = await startSimulator({ country, publicKey: `pkey_test_m${country}`, secretKey: `skey_test_m${country}` });
  return { sim, client: new OmiseClient({ baseUrl: sim.url, publicKey: `pkey_test_m${country}`, secretKey: `skey_test_m${country}` }) };
}

async function apiError(p: Promise<unknown>): Promise<OmiseError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof OmiseError) return err;
    throw err;
  }
  throw new Error('expected an Omise API error');
}

let th: Account;
let sg: Account;
beforeAll(async () => {
  [th, sg] = await Promise.all([account('TH'), account('SG')]);
});
afterAll(async () => {
  await Promise.all([th?.sim.stop(), sg?.sim.stop()]);
});

describe('simulator payment methods', () => {
  it('takes each method only in its country (source and inline charge)', async () => {
    for (const type of ['promptpay', 'wechat_pay_mpm', 'alipayplus_mpm'] as const) {
      const src = await th.client.createSource({ type, amount: 5000, currency: 'THB' });
      expect(src.type).toBe(type);
    }
    expect((await apiError(th.client.createSource({ type: 'paynow', amount: 5000, currency: 'THB' }))).code).toBe('bad_request');
    expect((await apiError(sg.client.createCharge({ amount: 5000, currency: 'SGD', source: { type: 'promptpay' } }))).code).toBe('invalid_charge');
    const ch = await sg.client.createCharge({ amount: 5000, currency: 'SGD', source: { type: 'paynow' } });
    expect(ch.source.type).toBe('paynow');
  });

  it('checks each method’s own limits', async () => {
    // PayNow goes above Alipay+'s S$20,000 in Singapore.
    const big = await sg.client.createCharge({ amount: 5_000_000, currency: 'SGD', source: { type: 'paynow' } });
    expect(big.amount).toBe(5_000_000);
    const e1 = await apiError(sg.client.createCharge({ amount: 5_000_000, currency: 'SGD', source: { type: 'alipayplus_mpm' } }));
    expect(e1.code).toBe('invalid_charge');
    const e2 = await apiError(th.client.createCharge({ amount: 1999, currency: 'THB', source: { type: 'promptpay' } }));
    expect(e2.message).toMatch(/Minimum for PromptPay is ฿20\.00/);
    const e3 = await apiError(th.client.createCharge({ amount: 15_000_001, currency: 'THB', source: { type: 'wechat_pay_mpm' } }));
    expect(e3.message).toMatch(/Maximum for WeChat Pay/);
  });

  it('serves each method’s QR document in its format, decoding to the charge’s payload', async () => {
    const cases = [
      { a: th, type: 'promptpay' as const, currency: 'THB' as const, file: 'qrcode.svg', mime: 'image/svg+xml' },
      { a: th, type: 'wechat_pay_mpm' as const, currency: 'THB' as const, file: 'qrcode.svg', mime: 'image/svg+xml' },
      { a: sg, type: 'paynow' as const, currency: 'SGD' as const, file: 'qrcode.png', mime: 'image/png' },
    ];
    for (const c of cases) {
      const ch = await c.a.client.createCharge({ amount: 4321, currency: c.currency, source: { type: c.type } });
      const image = ch.source.scannable_code!.image;
      expect(image.filename, c.type).toBe(c.file);
      const doc = await c.a.client.downloadDocument(image.download_uri);
      expect(doc.contentType, c.type).toContain(c.mime);
      const { text } = await decodeQrDocument(doc.body);
      expect(text, c.type).toBe(c.a.sim.qrTextOf(ch.id));
      if (c.type !== 'wechat_pay_mpm') {
        const p = parseEmvco(text);
        expect(p.crcOk, c.type).toBe(true);
        expect(p.fields.get('54'), c.type).toBe('43.21');
      }
    }
  });

  it('marks failures only with the method’s failure codes', async () => {
    const ch = await th.client.createCharge({ amount: 5000, currency: 'THB', source: { type: 'promptpay' } });
    expect((await apiError(th.client.markAsFailed(ch.id, 'insufficient_fund'))).code).toBe('bad_request');
    const failed = await th.client.markAsFailed(ch.id, 'payment_rejected');
    expect(failed).toMatchObject({ status: 'failed', failure_code: 'payment_rejected' });
  });

  it('refunds and voids by each method’s rules', async () => {
    // PromptPay: never refundable.
    const pp = await th.client.createCharge({ amount: 5000, currency: 'THB', source: { type: 'promptpay' } });
    const ppPaid = await th.client.markAsPaid(pp.id);
    expect(ppPaid).toMatchObject({ refundable: false, can_perform_void: false });
    const e = await apiError(th.client.createRefund(pp.id, { amount: 5000 }));
    expect(e).toMatchObject({ code: 'failed_refund' });
    expect(e.message).toMatch(/PromptPay charges cannot be refunded/);
    // WeChat Pay: refunded, never voided.
    const wc = await th.client.createCharge({ amount: 5000, currency: 'THB', source: { type: 'wechat_pay_mpm' } });
    await th.client.markAsPaid(wc.id);
    expect((await apiError(th.client.createRefund(wc.id, { amount: 5000, void: true }))).message).toMatch(/cannot be voided/);
    const r = await th.client.createRefund(wc.id, { amount: 2000 });
    expect(r).toMatchObject({ amount: 2000, voided: false });
    // PayNow: refunded (partially), never voided.
    const pn = await sg.client.createCharge({ amount: 5000, currency: 'SGD', source: { type: 'paynow' } });
    expect(await sg.client.markAsPaid(pn.id)).toMatchObject({ refundable: true, can_perform_void: false });
    expect(await sg.client.createRefund(pn.id, { amount: 1000 })).toMatchObject({ voided: false });
  });

  it('the dashboard names each charge’s method, offers only its failure codes, and pays it', async () => {
    const ch = await th.client.createCharge({ amount: 6543, currency: 'THB', source: { type: 'promptpay' } });
    const page = await (await fetch(`${th.sim.url}/`, { headers: { accept: 'text/html' } })).text();
    const row = page.slice(page.indexOf(ch.id), page.indexOf('</tr>', page.indexOf(ch.id)));
    expect(row).toContain('Pay with PromptPay');
    expect(row).toContain('<option>payment_rejected</option>');
    expect(row).not.toContain('insufficient_fund');
    const res = await fetch(`${th.sim.url}/_sim/charges/${ch.id}/mark_as_paid`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
      body: '',
      redirect: 'manual',
    });
    expect(res.status).toBe(303);
    expect(th.sim.charge(ch.id).status).toBe('successful');
  });
});

/**
 * Every payment method end to end: the real daemon (FakeKeypad, MemoryDisplay), the real relay and
 * the Omise simulator on loopback. For each method: amount → method key → the QR decoded from the
 * screen's pixels → its payload checked (EMVCo structure and CRC for PromptPay and PayNow) → paid at
 * the simulator → PAID on screen. Plus the picker's rules: one key per method, the last pick is the
 * default, a single enabled method skips it, and a method that cannot be refunded is refused on the
 * terminal instead of being tried.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEmvco, parseTlv } from '../shared/emvco';
import type { PaymentMethod } from '../domain/methods';
import { startRig, startTestTerminal, press, waitFor, type Rig, type TestTerminal } from './testing/rig';

async function withTerminal(rig: Rig, name: string, fn: (t: TestTerminal) => Promise<void>, opts: Parameters<typeof startTestTerminal>[1] = {}): Promise<void> {
  const t = await startTestTerminal(rig, { credential: await rig.pair(name), name, ...opts });
  try {
    await waitFor(() => t.handle.status().link.online, 'link online', 8000);
    await fn(t);
  } finally {
    await t.handle.stop();
  }
}

/** Keys a sale up to its QR; returns what the screen's QR decodes to and the ids behind it. */
async function saleToQr(t: TestTerminal, keys: string): Promise<{ saleId: string; chargeId: string; qr: string }> {
  press(t, keys);
  const qr = await waitFor(() => (t.handle.status().state === 'showing_qr' ? t.screenQr() : null), 'QR on screen', 8000, 20);
  const saleId = t.handle.status().currentSale!.saleId;
  const chargeId = t.handle.journal.getSale(saleId)!.chargeId!;
  return { saleId, chargeId, qr };
}

async function payAndSeePaid(rig: Rig, t: TestTerminal, chargeId: string): Promise<void> {
  rig.sim.markAsPaid(chargeId);
  await waitFor(() => t.handle.status().state === 'paid', 'PAID on screen', 8000);
  press(t, 'cancel');
  await waitFor(() => t.handle.status().state === 'idle', 'idle again');
}

/** The nested fields of an EMVCo template field. */
function sub(value: string | undefined): Map<string, string> {
  return new Map(parseTlv(value ?? '').map((f) => [f.tag, f.value]));
}

describe('Thailand: Alipay+, PromptPay and WeChat Pay on one terminal', () => {
  let rig: Rig;
  const enabled: PaymentMethod[] = ['alipayplus_mpm', 'promptpay', 'wechat_pay_mpm'];
  beforeAll(async () => {
    rig = await startRig({ country: 'TH', methods: { enabled } });
  });
  afterAll(async () => {
    await rig?.close();
  });

  it('each method by its key: QR decoded from the screen, payload checked, paid → PAID; the last pick is the default', async () => {
    await withTerminal(
      rig,
      'th-methods',
      async (t) => {
        // The relay's list arrives with the stream's hello and is kept for the next start.
        await waitFor(() => t.handle.journal.paymentMethods().methods?.join() === enabled.join(), 'methods from the relay');

        // 1: Alipay+ — an HTTPS URL.
        const a = await saleToQr(t, '2 5 0 0 0 enter 1');
        expect(a.qr).toBe(rig.sim.qrTextOf(a.chargeId));
        expect(a.qr).toMatch(/^https:\/\/global\.alipay\.com\//);
        expect(rig.sim.charge(a.chargeId).source.type).toBe('alipayplus_mpm');
        await payAndSeePaid(rig, t, a.chargeId);

        // 2: PromptPay — an EMVCo payload with a valid CRC, THB, the amount, Thailand.
        const p = await saleToQr(t, '1 2 3 4 5 enter 2');
        expect(p.qr).toBe(rig.sim.qrTextOf(p.chargeId));
        const pp = parseEmvco(p.qr);
        expect(pp.crcOk).toBe(true);
        expect(pp.fields.get('01')).toBe('12');
        expect(pp.fields.get('53')).toBe('764');
        expect(pp.fields.get('54')).toBe('123.45');
        expect(pp.fields.get('58')).toBe('TH');
        expect(sub(pp.fields.get('30')).get('00')).toBe('A000000677010112');
        // A changed character is caught by the CRC.
        expect(parseEmvco(p.qr.replace('123.45', '923.45')).crcOk).toBe(false);
        expect(rig.sim.charge(p.chargeId)).toMatchObject({ amount: 12345, currency: 'THB', source: { type: 'promptpay' } });
        expect(t.handle.journal.getSale(p.saleId)?.method).toBe('promptpay');
        await payAndSeePaid(rig, t, p.chargeId);

        // The pick is remembered: Enter on the picker takes PromptPay again.
        expect(t.handle.journal.paymentMethods().defaultMethod).toBe('promptpay');
        const again = await saleToQr(t, '3 0 0 0 enter enter');
        expect(rig.sim.charge(again.chargeId).source.type).toBe('promptpay');
        await payAndSeePaid(rig, t, again.chargeId);

        // 3: WeChat Pay — a weixin:// URL.
        const w = await saleToQr(t, '8 8 8 8 enter 3');
        expect(w.qr).toBe(rig.sim.qrTextOf(w.chargeId));
        expect(w.qr).toMatch(/^weixin:\/\/wxpay\/bizpayurl\?pr=[A-Za-z0-9]+$/);
        expect(rig.sim.charge(w.chargeId).source.type).toBe('wechat_pay_mpm');
        await payAndSeePaid(rig, t, w.chargeId);
        expect(t.handle.journal.paymentMethods().defaultMethod).toBe('wechat_pay_mpm');

        // The day's report has a block per method.
        await waitFor(() => t.handle.journal.getSale(w.saleId)?.status === 'successful', 'the last sale paid in the journal');
        const rows = t.handle.journal.dayReport('2000-01-01', '9999').map((r) => [r.method, r.currency, r.paid.count, r.paid.amount]);
        expect(rows).toEqual([
          ['alipayplus_mpm', 'THB', 1, 25000],
          ['promptpay', 'THB', 2, 12345 + 3000],
          ['wechat_pay_mpm', 'THB', 1, 8888],
        ]);
      },
      { supervisorPin: '2468' },
    );
  });

  it('the picker: Cancel goes back to the amount, a key with no method does nothing, amounts a method cannot take are refused before anything is sent', async () => {
    await withTerminal(rig, 'th-picker', async (t) => {
      await waitFor(() => t.handle.journal.paymentMethods().methods !== null, 'methods from the relay');
      const charges = () => rig.sim.charges().length;
      const before = charges();
      press(t, '5 0 0 0 enter');
      await waitFor(() => t.handle.status().state === 'method', 'the method picker');
      await t.handle.idle();
      const picker = t.handle.lastScreen();
      expect(picker.kind === 'methods' && picker.choices.map((c) => `${c.key} ${c.label}`)).toEqual(['1 Alipay+', '2 PromptPay', '3 WeChat Pay']);
      press(t, '9');
      expect(t.handle.status().state).toBe('method');
      press(t, 'cancel');
      await waitFor(() => t.handle.status().state === 'entering', 'back to the amount');
      // Below every method's minimum (฿20.00): refused on the amount screen.
      press(t, 'clear 1 0 0 enter');
      await t.handle.idle();
      expect(t.handle.status().state).toBe('entering');
      const refused = t.handle.lastScreen();
      expect(refused.kind === 'entry' && refused.error).toBe('Minimum is ฿20.00');
      expect(charges()).toBe(before);
      expect(t.handle.journal.nonFinalSales()).toEqual([]);
    });
  });

  it('a PromptPay sale cannot be refunded: the supervisor is told so and nothing is sent; the relay refuses it too', async () => {
    await withTerminal(
      rig,
      'th-refund',
      async (t) => {
        await waitFor(() => t.handle.journal.paymentMethods().methods !== null, 'methods from the relay');
        const p = await saleToQr(t, '4 0 0 0 enter 2');
        await payAndSeePaid(rig, t, p.chargeId);
        await waitFor(() => t.handle.journal.getSale(p.saleId)?.status === 'successful', 'paid in the journal');
        press(t, 'menu 1 3 5 7 enter 1');
        await waitFor(() => t.handle.status().state === 'pick', 'the sales to refund');
        press(t, '1');
        await waitFor(() => t.handle.status().state === 'info', 'the refusal');
        const shown = t.handle.lastScreen();
        expect(shown.kind === 'message' && shown.lines.join(' ')).toMatch(/PromptPay payments cannot be refunded/);
        expect(t.handle.journal.pendingOutbox()).toBe(0);
        expect(rig.sim.charge(p.chargeId).refunds.data).toEqual([]);
        const cred = JSON.parse((await import('node:fs')).readFileSync(t.config.secretsFile, 'utf8')) as { credential: string };
        const res = await fetch(`${rig.relayUrl}/v1/sales/${p.saleId}/refunds`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${cred.credential}` },
          body: JSON.stringify({ refundId: 'refund_promptpay_1', amount: 4000 }),
        });
        expect(res.status).toBe(422);
        expect(((await res.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'not_refundable', message: expect.stringContaining('PromptPay') as string });
      },
      { supervisorPin: '1357' },
    );
  });
});

describe('Singapore: PayNow alone', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig({ country: 'SG', methods: { enabled: ['paynow'] } });
  });
  afterAll(async () => {
    await rig?.close();
  });

  it('one method: no picker; the PNG document decodes to an EMVCo SG.PAYNOW payload with a valid CRC; paid → PAID', async () => {
    await withTerminal(
      rig,
      'sg-paynow',
      async (t) => {
        await waitFor(() => t.handle.journal.paymentMethods().methods?.join() === 'paynow', 'methods from the relay');
        const n = await saleToQr(t, '1 2 5 0 enter');
        expect(n.qr).toBe(rig.sim.qrTextOf(n.chargeId));
        const pn = parseEmvco(n.qr);
        expect(pn.crcOk).toBe(true);
        expect(pn.fields.get('53')).toBe('702');
        expect(pn.fields.get('54')).toBe('12.50');
        expect(pn.fields.get('58')).toBe('SG');
        const account = sub(pn.fields.get('26'));
        expect(account.get('00')).toBe('SG.PAYNOW');
        expect(account.get('03')).toBe('0');
        // Omise serves PayNow's QR document as a PNG.
        const doc = rig.sim.charge(n.chargeId).source.scannable_code!.image;
        expect(doc.filename).toBe('qrcode.png');
        const res = await fetch(doc.download_uri);
        expect(res.headers.get('content-type')).toBe('image/png');
        expect(Buffer.from(await res.arrayBuffer()).subarray(1, 4).toString('latin1')).toBe('PNG');
        expect(t.handle.journal.getSale(n.saleId)?.method).toBe('paynow');
        await payAndSeePaid(rig, t, n.chargeId);
      },
      { config: { currency: 'SGD' } },
    );
  });
});

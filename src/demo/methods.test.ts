/**
 * `qrpos demo --method`: the flag's parsing, and the demo running PromptPay and WeChat Pay (real
 * simulator, relay and terminal; virtual keypad and screen): amount → method key → the QR decoded
 * from the demo's screen → payload checked → paid at the simulator → PAID.
 */
import jsQR from 'jsqr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyName } from '../../drivers/keypad/contract';
import { parseEmvco } from '../shared/emvco';
import { UsageError } from '../shared/args';
import { banner, parseMethods } from './cli';
import type { DemoHandle } from './demo';
import { startTestDemo, until as waitUntil, type TestDemo } from './testing/browser';

const until = <T>(what: string, fn: () => T) => waitUntil(what, fn, 20_000, 20);

describe('--method', () => {
  it('takes a list in key order, or all of the country’s; refuses unknown methods and other countries’', () => {
    expect(parseMethods('promptpay, alipayplus_mpm', 'TH')).toEqual(['promptpay', 'alipayplus_mpm']);
    expect(parseMethods('all', 'TH')).toEqual(['alipayplus_mpm', 'promptpay', 'wechat_pay_mpm']);
    expect(parseMethods('all', 'SG')).toEqual(['alipayplus_mpm', 'paynow']);
    expect(() => parseMethods('paynow', 'TH')).toThrow(/paynow \(PayNow\) is not offered in TH/);
    expect(() => parseMethods('bitcoin', 'TH')).toThrow(UsageError);
    const text = banner({ urls: { terminal: 't', dashboard: 'd', simulator: 's', relay: 'r' }, screenPng: 'p', keys: { publicKey: 'pk', secretKey: 'sk', webhookSecret: 'w' } }, 'SG', ['alipayplus_mpm', 'paynow']);
    // PayNow's maximum is above Alipay+'s: the banner gives the widest range and the keys.
    expect(text).toContain('S$1.00 to S$200,000.00');
    expect(text).toContain('1 Alipay+, 2 PayNow');
  });
});

describe('the demo with --method promptpay,wechat_pay_mpm', () => {
  let demo: DemoHandle;
  let test: TestDemo;
  beforeAll(async () => {
    test = await startTestDemo({ merchantName: 'Demo Methods', methods: parseMethods('promptpay,wechat_pay_mpm', 'TH') });
    demo = test.demo;
  });
  afterAll(async () => {
    await test?.stop();
  });

  const screenQr = (): string | null => {
    const { data, width, height } = demo.display.rgba();
    return jsQR(data, width, height)?.data ?? null;
  };

  async function sale(keys: string, expected: (qr: string) => void): Promise<void> {
    await until('online', () => demo.terminal.status().link.online);
    await until('the relay’s methods', () => demo.terminal.machine().methods?.length === 2);
    demo.press(...(keys.split(' ') as KeyName[]));
    const qr = await until('QR on the screen', () => (demo.terminal.status().state === 'showing_qr' ? screenQr() : null));
    const saleId = demo.terminal.status().currentSale!.saleId;
    const chargeId = demo.terminal.journal.getSale(saleId)!.chargeId!;
    expect(qr).toBe(demo.simulator.qrTextOf(chargeId));
    expected(qr);
    demo.simulator.markAsPaid(chargeId);
    await until('PAID', () => demo.terminal.status().state === 'paid');
    demo.press('cancel');
    await until('idle', () => demo.terminal.status().state === 'idle');
  }

  it('PromptPay (key 1): an EMVCo payload with a valid CRC → PAID', async () => {
    await sale('2 5 0 0 enter 1', (qr) => {
      const p = parseEmvco(qr);
      expect(p.crcOk).toBe(true);
      expect(p.fields.get('54')).toBe('25.00');
      expect(p.fields.get('53')).toBe('764');
    });
  });

  it('WeChat Pay (key 2): a weixin:// code → PAID', async () => {
    await sale('3 0 0 0 enter 2', (qr) => expect(qr).toMatch(/^weixin:\/\/wxpay\/bizpayurl\?pr=/));
  });
});

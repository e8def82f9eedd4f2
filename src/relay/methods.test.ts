/**
 * The relay's payment methods against the simulator on loopback: which methods a terminal may use
 * (the shop's list, a terminal's own), each method's limits before anything reaches Omise, the
 * method told in the stream's hello and kept on the sale, the report per method, and refunds and
 * voids by each method's rules.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRelayConfig, ConfigError } from './config';
import { connectStream, newSaleId, operatorConfig, relayCli, startRig, TestClock, type Rig } from './testing/testkit';

let rig: Rig;
let till: { terminalId: string; credential: string };
let kiosk: { terminalId: string; credential: string };
const clock = TestClock.morning();

beforeAll(async () => {
  rig = await startRig({
    clock,
    config: { methods: { enabled: ['alipayplus_mpm', 'promptpay', 'wechat_pay_mpm'], terminals: { kiosk: ['promptpay'] } } },
  });
  till = await rig.pair('till');
  kiosk = await rig.pair('kiosk');
});
afterAll(async () => {
  await rig?.close();
});

const create = (cred: string, method: string | undefined, amount = 5000, saleId = newSaleId()) =>
  rig.api('POST', '/v1/sales', cred, { saleId, amount, currency: 'THB', ...(method ? { method } : {}) });

describe('relay payment methods', () => {
  it('hello names the terminal’s methods: the shop’s list, or its own by name', async () => {
    for (const [t, want] of [
      [till, ['alipayplus_mpm', 'promptpay', 'wechat_pay_mpm']],
      [kiosk, ['promptpay']],
    ] as const) {
      const ws = await connectStream(rig.relay.url, t.credential);
      const hello = await ws.waitFor(() => ws.messages.find((m) => m.type === 'hello'), 'hello');
      expect(hello.type === 'hello' && hello.methods).toEqual(want);
      ws.ws.close();
    }
  });

  it('creates with the method asked for (default Alipay+), keeps it on the sale, and refuses one not enabled for the terminal', async () => {
    const pp = await create(till.credential, 'promptpay');
    expect(pp.status).toBe(200);
    expect(pp.body).toMatchObject({ method: 'promptpay', status: 'pending' });
    expect(rig.sim.charge(pp.body.chargeId as string).source.type).toBe('promptpay');
    const plain = await create(till.credential, undefined);
    expect(plain.body.method).toBe('alipayplus_mpm');
    const refused = await create(kiosk.credential, 'wechat_pay_mpm');
    expect(refused.status).toBe(422);
    expect(refused.body.error).toMatchObject({ code: 'method_not_enabled', message: expect.stringContaining('WeChat Pay is not enabled for this terminal') as string });
    const other = await create(till.credential, 'paynow');
    expect(other.body.error.code).toBe('method_not_enabled');
    // The same sale id with another method is a different sale.
    const again = await rig.api('POST', '/v1/sales', till.credential, { saleId: pp.body.saleId as string, amount: 5000, currency: 'THB', method: 'wechat_pay_mpm' });
    expect(again.status).toBe(409);
  });

  it('checks the method’s limits before anything reaches Omise', async () => {
    const before = rig.sim.charges().length;
    const low = await create(till.credential, 'promptpay', 1999);
    expect(low.status).toBe(422);
    expect(low.body.error).toMatchObject({ code: 'amount_out_of_range', message: 'Minimum for PromptPay is ฿20.00' });
    expect(rig.sim.charges().length).toBe(before);
  });

  it('refunds by each method’s rules: PromptPay never, WeChat Pay refunded but never voided, Alipay+ voided the same day', async () => {
    const paid = async (method: string) => {
      const s = await create(till.credential, method);
      rig.sim.markAsPaid(s.body.chargeId as string);
      const refreshed = await rig.api('GET', `/v1/sales/${s.body.saleId as string}`, till.credential);
      expect(refreshed.body.status).toBe('successful');
      return refreshed.body as { saleId: string; canVoid: boolean };
    };
    const refund = (saleId: string, body: object) => rig.api('POST', `/v1/sales/${saleId}/refunds`, till.credential, { refundId: newSaleId('r'), ...body });

    const pp = await paid('promptpay');
    expect(pp.canVoid).toBe(false);
    const ppR = await refund(pp.saleId, { amount: 5000 });
    expect(ppR.status).toBe(422);
    expect(ppR.body.error).toMatchObject({ code: 'not_refundable', message: expect.stringContaining('PromptPay payments cannot be refunded') as string });

    const wc = await paid('wechat_pay_mpm');
    expect(wc.canVoid).toBe(false);
    expect((await refund(wc.saleId, { amount: 5000, mode: 'void' })).body.error.code).toBe('void_window_closed');
    const wcR = await refund(wc.saleId, { amount: 5000 });
    expect(wcR.body).toMatchObject({ status: 'done', voided: false });

    const ap = await paid('alipayplus_mpm');
    expect(ap.canVoid).toBe(true);
    expect((await refund(ap.saleId, { amount: 5000 })).body).toMatchObject({ status: 'done', voided: true });
  });

  it('the end-of-day report has a row per method', async () => {
    const day = clock.now().toISOString().slice(0, 10);
    const r = await rig.api('GET', `/admin/report?date=${day}`, rig.secrets.adminToken);
    expect(r.status).toBe(200);
    const methods = (r.body.totals as { method: string }[]).map((row) => row.method).sort();
    expect(methods).toEqual(['alipayplus_mpm', 'promptpay', 'wechat_pay_mpm']);
  });

  it('config: a method the country does not have is refused at start, naming it', () => {
    const base = { version: 1, country: 'TH', dataDir: '/tmp/x' };
    expect(() => parseRelayConfig({ ...base, methods: { enabled: ['paynow'] } })).toThrow(ConfigError);
    expect(() => parseRelayConfig({ ...base, methods: { enabled: ['paynow'] } })).toThrow(/methods\.enabled: paynow \(PayNow\) is not offered in TH/);
    expect(() => parseRelayConfig({ ...base, methods: { enabled: ['promptpay', 'promptpay'] } })).toThrow(/lists a method twice/);
    expect(parseRelayConfig(base).methods).toEqual({ enabled: ['alipayplus_mpm'], terminals: {} });
  });
});

describe('each terminal’s enabled methods in the operator’s listings', () => {
  const expected = () => ({ [till.terminalId]: ['alipayplus_mpm', 'promptpay', 'wechat_pay_mpm'], [kiosk.terminalId]: ['promptpay'] });

  it('the admin API lists them per terminal: the shop’s, or its own by name', async () => {
    const r = await rig.api('GET', '/admin/terminals', rig.secrets.adminToken);
    expect(r.status).toBe(200);
    const rows = r.body.terminals as { id: string; methods: string[] }[];
    expect(Object.fromEntries(rows.map((t) => [t.id, t.methods]))).toEqual(expected());
  });

  it('`qrpos relay terminals list` shows them in a METHODS column, and --json as a list', async () => {
    // The CLI asks the running relay (its admin API), so the lists are the running relay's.
    const configFile = operatorConfig(rig);
    const list = await relayCli(['terminals', 'list', '--config', configFile]);
    expect(list.code).toBe(0);
    const [head, ...lines] = list.out.trimEnd().split('\n');
    expect(head).toMatch(/ADDRESS\s+METHODS$/);
    const methodsOf = (id: string) => lines.find((l) => l.startsWith(id))?.split(/\s+/).at(-1);
    expect(methodsOf(till.terminalId)).toBe('alipayplus_mpm,promptpay,wechat_pay_mpm');
    expect(methodsOf(kiosk.terminalId)).toBe('promptpay');
    const json = await relayCli(['terminals', 'list', '--json', '--config', configFile]);
    const rows = JSON.parse(json.out) as { id: string; methods: string[] }[];
    expect(Object.fromEntries(rows.map((t) => [t.id, t.methods]))).toEqual(expected());
  });
});

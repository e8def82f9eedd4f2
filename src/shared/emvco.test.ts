import { describe, expect, it } from 'vitest';
import { crc16, EmvcoError, parseEmvco, parseTlv, tlv, withCrc } from './emvco';

describe('EMVCo merchant-presented payloads', () => {
  it('CRC-16/CCITT-FALSE: the standard check value', () => {
    // The catalogue check value of CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) over "123456789".
    expect(crc16('123456789')).toBe(0x29b1);
  });

  it('builds, parses and checks a payload; any changed character breaks the CRC', () => {
    const text = withCrc(tlv('00', '01') + tlv('01', '12') + tlv('53', '764') + tlv('54', '25.00') + tlv('58', 'TH'));
    expect(text.startsWith('000201010212')).toBe(true);
    expect(text).toMatch(/6304[0-9A-F]{4}$/);
    const p = parseEmvco(text);
    expect(p.crcOk).toBe(true);
    expect(Object.fromEntries(p.fields)).toMatchObject({ '53': '764', '54': '25.00', '58': 'TH' });
    for (let i = 0; i < text.length - 4; i++) {
      const ch = text[i] === '9' ? '8' : '9';
      const bad = text.slice(0, i) + ch + text.slice(i + 1);
      let ok: boolean;
      try {
        ok = parseEmvco(bad).crcOk;
      } catch {
        ok = false; // a changed length digit breaks the structure instead
      }
      expect(ok, `changed at ${i}`).toBe(false);
    }
  });

  it('refuses truncated or malformed fields and payloads without the format indicator or CRC', () => {
    expect(() => parseTlv('0005abc')).toThrow(EmvcoError);
    expect(() => parseTlv('00x2ab')).toThrow(EmvcoError);
    expect(() => parseEmvco(tlv('01', '12'))).toThrow(/000201/);
    expect(() => parseEmvco(tlv('00', '01') + tlv('58', 'TH'))).toThrow(/CRC/);
    expect(() => tlv('1', 'x')).toThrow(EmvcoError);
  });
});

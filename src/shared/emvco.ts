/**
 * EMVCo merchant-presented QR payloads (the format of PromptPay and PayNow codes): a string of
 * TLV fields — two-digit tag, two-digit length, value — ending in tag 63, a CRC-16/CCITT-FALSE
 * (polynomial 0x1021, initial 0xFFFF, no reflection, no final XOR) over everything before its
 * value, "6304" included, written as four upper-case hex digits.
 */

export class EmvcoError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EmvcoError';
  }
}

/** CRC-16/CCITT-FALSE of the UTF-8 bytes of `text`. */
export function crc16(text: string): number {
  let crc = 0xffff;
  for (const byte of Buffer.from(text, 'utf8')) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** One TLV field: tag and value (the length is the value's length in characters). */
export function tlv(tag: string, value: string): string {
  if (!/^\d{2}$/.test(tag)) throw new EmvcoError(`tag must be two digits, got "${tag}"`);
  if (value.length > 99) throw new EmvcoError(`value of tag ${tag} is longer than 99 characters`);
  return `${tag}${String(value.length).padStart(2, '0')}${value}`;
}

/** Fields in order, then the CRC field. */
export function withCrc(fields: string): string {
  const body = `${fields}6304`;
  return body + crc16(body).toString(16).toUpperCase().padStart(4, '0');
}

export interface TlvField {
  tag: string;
  value: string;
}

/** Splits a TLV string into its fields; throws on a truncated or malformed one. */
export function parseTlv(text: string): TlvField[] {
  const out: TlvField[] = [];
  let i = 0;
  while (i < text.length) {
    const head = text.slice(i, i + 4);
    if (!/^\d{4}$/.test(head)) throw new EmvcoError(`malformed field at offset ${i}: "${head}"`);
    const len = Number(head.slice(2));
    const value = text.slice(i + 4, i + 4 + len);
    if (value.length !== len) throw new EmvcoError(`field ${head.slice(0, 2)} at offset ${i} is truncated`);
    out.push({ tag: head.slice(0, 2), value });
    i += 4 + len;
  }
  return out;
}

/** A decoded payload: its top-level fields by tag (nested templates stay strings; parse them with parseTlv). */
export interface EmvcoPayload {
  fields: Map<string, string>;
  crcOk: boolean;
}

/**
 * Parses a merchant-presented payload and checks it: it starts with tag 00 = "01", ends with tag
 * 63 of four hex digits, and that CRC matches. `crcOk` says whether it did; structure errors throw.
 */
export function parseEmvco(text: string): EmvcoPayload {
  const list = parseTlv(text);
  if (list[0]?.tag !== '00' || list[0].value !== '01') throw new EmvcoError('payload does not start with 000201 (payload format indicator)');
  const last = list[list.length - 1];
  if (last?.tag !== '63' || !/^[0-9A-F]{4}$/.test(last.value)) throw new EmvcoError('payload does not end with a CRC field (63, four upper-case hex digits)');
  const fields = new Map<string, string>();
  for (const f of list) {
    if (fields.has(f.tag)) throw new EmvcoError(`tag ${f.tag} appears twice`);
    fields.set(f.tag, f.value);
  }
  const crcOk = crc16(text.slice(0, -4)) === parseInt(last.value, 16);
  return { fields, crcOk };
}

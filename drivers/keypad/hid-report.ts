/**
 * Pure parsing of HID keyboard input reports (usage page 0x07) into key-down / key-up usages.
 *
 * A boot-protocol report is 8 bytes: modifiers, reserved, then up to six usage ids of the keys
 * held right now. Keypads whose report descriptor uses report ids put the id in front (9 bytes).
 * Keyboards report state, not events, so presses are found by diffing consecutive reports; a
 * usage that stays in the array is still the same press (idle-rate repeats and other keys
 * changing around it do not press it again).
 */

/** ErrorRollOver: too many keys held; the report carries no usable state. */
const ROLLOVER = 0x01;
const BOOT_LENGTH = 8;

export interface HidReportParserOptions {
  /**
   * Report id of the keyboard report when the descriptor uses ids. Undefined = accept 8-byte
   * boot reports and 9-byte reports whose first byte is any id.
   */
  reportId?: number;
}

export type ParseResult =
  | { kind: 'keys'; down: number[]; up: number[] }
  /** Too many keys held (ErrorRollOver): state is kept as it was. */
  | { kind: 'rollover' }
  /** A report for another collection (e.g. consumer keys) on the same device. */
  | { kind: 'other'; reportId: number }
  | { kind: 'malformed'; reason: string };

export class HidReportParser {
  private held: number[] = [];
  private readonly reportId: number | undefined;

  constructor(opts: HidReportParserOptions = {}) {
    this.reportId = opts.reportId;
  }

  /** Usages currently held, in the order the device listed them. */
  get pressed(): readonly number[] {
    return this.held;
  }

  /** Forget the held keys (after a reconnect the device starts from "all released"). */
  reset(): void {
    this.held = [];
  }

  parse(report: Uint8Array): ParseResult {
    const body = this.keyboardBody(report);
    if ('kind' in body) return body;
    const usages = body.usages;
    if (usages.some((u) => u === ROLLOVER || u === 0x02 || u === 0x03)) return { kind: 'rollover' };
    const now: number[] = [];
    for (const u of usages) if (u !== 0 && !now.includes(u)) now.push(u);
    const down = now.filter((u) => !this.held.includes(u));
    const up = this.held.filter((u) => !now.includes(u));
    this.held = now;
    return { kind: 'keys', down, up };
  }

  private keyboardBody(report: Uint8Array): { usages: number[] } | ParseResult {
    if (this.reportId !== undefined) {
      if (report.length === 0) return { kind: 'malformed', reason: 'empty report' };
      if (report[0] !== this.reportId) return { kind: 'other', reportId: report[0] };
      if (report.length !== BOOT_LENGTH + 1) return { kind: 'malformed', reason: `report id ${report[0]}: length ${report.length}, expected ${BOOT_LENGTH + 1}` };
      return { usages: Array.from(report.subarray(3)) };
    }
    if (report.length === BOOT_LENGTH) return { usages: Array.from(report.subarray(2)) };
    if (report.length === BOOT_LENGTH + 1) {
      // An id-prefixed report; byte 2 (reserved in the boot layout) is expected to be 0.
      return { usages: Array.from(report.subarray(3)) };
    }
    return { kind: 'malformed', reason: `length ${report.length}, expected ${BOOT_LENGTH} or ${BOOT_LENGTH + 1}` };
  }
}

/** "00 00 59 00 00 00 00 00" → bytes; throws on anything that is not hex byte pairs. */
export function hexToBytes(hex: string): Uint8Array {
  const clean = hex.replace(/[\s:]/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) throw new Error(`not hex bytes: "${hex}"`);
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export function bytesToHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

export interface RecordedReport {
  /** Milliseconds since the start of the recording. */
  atMs: number;
  bytes: Uint8Array;
}

/**
 * Capture format (what `drivers/keypad/capture.ts` prints): one report per line,
 * `<ms since start> <hex bytes>`; `#` starts a comment. Lines that are not valid are errors
 * naming the line, so a damaged fixture fails loudly instead of testing less.
 */
export function parseCapture(text: string): RecordedReport[] {
  const out: RecordedReport[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) return;
    const m = /^(\d+)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`capture line ${i + 1}: expected "<ms> <hex bytes>", got "${raw}"`);
    let bytes: Uint8Array;
    try {
      bytes = hexToBytes(m[2]);
    } catch (e) {
      throw new Error(`capture line ${i + 1}: ${(e as Error).message}`, { cause: e });
    }
    out.push({ atMs: Number(m[1]), bytes });
  });
  return out;
}

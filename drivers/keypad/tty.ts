/**
 * A keypad from the keyboard of a plain terminal (development, demos over ssh). In a TTY the
 * input is put in raw mode so every key counts at once; piped input (`echo 12.50 | qrpos …`)
 * works too, line breaks being Enter.
 *
 * Key map (documented in drivers/README.md):
 *   0–9 → digits, `.` or `,` → ".", `z` → "00", Enter → enter, Backspace / Delete / `-` → backspace,
 *   Esc / `x` / `+` → cancel, `c` / `*` → clear, `m` / `/` → menu, F1–F4 → f1–f4.
 *   (`/ * - +` match the USB numpad map, so a PC's numpad behaves like the real keypad.)
 * Ctrl-C in raw mode would otherwise be swallowed: it raises SIGINT on this process (or calls
 * `onInterrupt`), so the daemon shuts down as usual.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../../src/shared/log';
import type { KeyName, Keypad, KeypadEvents } from './contract';

const CHAR_KEYS: Readonly<Record<string, KeyName>> = {
  '0': '0',
  '1': '1',
  '2': '2',
  '3': '3',
  '4': '4',
  '5': '5',
  '6': '6',
  '7': '7',
  '8': '8',
  '9': '9',
  '.': '.',
  ',': '.',
  z: '00',
  Z: '00',
  '\r': 'enter',
  '\n': 'enter',
  '\x7f': 'backspace',
  '\b': 'backspace',
  '-': 'backspace',
  x: 'cancel',
  X: 'cancel',
  '+': 'cancel',
  c: 'clear',
  C: 'clear',
  '*': 'clear',
  m: 'menu',
  M: 'menu',
  '/': 'menu',
};

/** Escape sequences after ESC: xterm / VT function keys, Delete, keypad application mode. */
const ESCAPE_KEYS: Readonly<Record<string, KeyName>> = {
  OP: 'f1',
  OQ: 'f2',
  OR: 'f3',
  OS: 'f4',
  '[11~': 'f1',
  '[12~': 'f2',
  '[13~': 'f3',
  '[14~': 'f4',
  '[3~': 'backspace',
  OM: 'enter',
  On: '.',
  Op: '0',
  Oq: '1',
  Or: '2',
  Os: '3',
  Ot: '4',
  Ou: '5',
  Ov: '6',
  Ow: '7',
  Ox: '8',
  Oy: '9',
  Oo: 'menu',
  Oj: 'clear',
  Om: 'backspace',
  Ok: 'cancel',
};

export type TtyToken = { key: KeyName } | { interrupt: true } | { ignored: string };

/** Splits terminal input into keys; exported for tests. */
export function tokenizeTtyInput(text: string): TtyToken[] {
  const out: TtyToken[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '\x03') {
      out.push({ interrupt: true });
      continue;
    }
    if (ch === '\x1b') {
      const next = text[i + 1];
      if (next === 'O' && i + 2 < text.length) {
        // SS3 and one printable character; a control character (Ctrl-C, another ESC) ends it and counts on its own.
        const final = /[ -~]/.test(text[i + 2]);
        const seq = text.slice(i + 1, final ? i + 3 : i + 2);
        out.push(Object.hasOwn(ESCAPE_KEYS, seq) ? { key: ESCAPE_KEYS[seq] } : { ignored: `ESC ${seq}` });
        i += seq.length;
        continue;
      }
      if (next === '[') {
        // CSI: parameter and intermediate bytes (space to ?), then one final byte in @–~. Any other
        // byte (Ctrl-C, another ESC) ends the sequence and counts on its own.
        let j = i + 2;
        while (j < text.length && /[ -?]/.test(text[j])) j++;
        const final = j < text.length && /[@-~]/.test(text[j]);
        const seq = text.slice(i + 1, final ? j + 1 : j);
        out.push(Object.hasOwn(ESCAPE_KEYS, seq) ? { key: ESCAPE_KEYS[seq] } : { ignored: `ESC ${seq}` });
        i += seq.length;
        continue;
      }
      out.push({ key: 'cancel' });
      continue;
    }
    // CR LF from a pipe is one Enter.
    if (ch === '\n' && text[i - 1] === '\r') continue;
    const key = CHAR_KEYS[ch];
    out.push(key ? { key } : { ignored: JSON.stringify(ch) });
  }
  return out;
}

/**
 * Where an escape sequence that is not finished yet starts at the end of `text` (text.length when
 * none): a read can end inside one (slow ssh links split `ESC [ 3 ~`), and read as it is, Delete
 * would become "3" and keypad 0 (`ESC O p`) a Cancel. Exported for tests.
 */
export function unfinishedEscapeAt(text: string): number {
  const esc = text.lastIndexOf('\x1b');
  if (esc < 0) return text.length;
  const seq = text.slice(esc + 1);
  if (seq === '' || seq === 'O' || seq === '[') return esc;
  if (seq[0] === '[' && /^\[[ -?]*$/.test(seq)) return esc;
  return text.length;
}

/** How long a read that ends inside an escape sequence waits for the rest (a lone Esc is Cancel after it). */
const ESCAPE_WAIT_MS = 40;

export interface TtyKeypadOptions {
  /** Ctrl-C; default raises SIGINT on this process. */
  onInterrupt?: () => void;
}

export class TtyKeypad extends EventEmitter<KeypadEvents> implements Keypad {
  readonly description: string;
  private running = false;
  private rawSet = false;
  private readonly onInterrupt: () => void;
  private readonly onData = (chunk: Buffer | string) => this.handle(typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
  private readonly onEnd = () => {
    if (this.running) this.emit('status', { connected: false, reason: 'terminal input closed' });
  };
  /** A terminal that goes away (ssh dropped) fails reads with EIO: a disconnect, not a crash. */
  private readonly onError = (err: Error) => {
    this.log.warn('terminal input failed', { error: err.message });
    if (this.running) this.emit('status', { connected: false, reason: `terminal input failed: ${err.message}` });
  };

  constructor(
    private readonly input: NodeJS.ReadStream,
    private readonly log: Logger,
    opts: TtyKeypadOptions = {},
  ) {
    super();
    this.description = input.isTTY ? 'tty keyboard' : 'stdin (piped)';
    this.onInterrupt = opts.onInterrupt ?? (() => process.kill(process.pid, 'SIGINT'));
  }

  start(): Promise<void> {
    if (this.running) return Promise.resolve();
    this.running = true;
    if (this.input.isTTY && typeof this.input.setRawMode === 'function') {
      this.input.setRawMode(true);
      this.rawSet = true;
    }
    this.input.on('data', this.onData);
    this.input.on('end', this.onEnd);
    this.input.on('error', this.onError);
    this.input.resume();
    this.emit('status', { connected: true });
    this.log.info('keys from the terminal keyboard: digits . z=00 Enter Backspace Esc/x=cancel c=clear m=menu; Ctrl-C quits');
    return Promise.resolve();
  }

  stop(): Promise<void> {
    if (!this.running) return Promise.resolve();
    this.running = false;
    this.input.off('data', this.onData);
    this.input.off('end', this.onEnd);
    this.input.off('error', this.onError);
    if (this.rawSet) this.input.setRawMode(false);
    this.rawSet = false;
    if (this.pendingTimer) clearTimeout(this.pendingTimer);
    this.pendingTimer = null;
    this.pending = '';
    this.input.pause();
    return Promise.resolve();
  }

  /** The unfinished escape sequence the last read ended with, waiting for the next read. */
  private pending = '';
  private pendingTimer: NodeJS.Timeout | null = null;

  private handle(chunk: string): void {
    if (!this.running) return;
    if (this.pendingTimer) clearTimeout(this.pendingTimer);
    this.pendingTimer = null;
    const text = this.pending + chunk;
    const cut = unfinishedEscapeAt(text);
    this.pending = text.slice(cut);
    this.emitKeys(text.slice(0, cut));
    if (this.pending) {
      this.pendingTimer = setTimeout(() => {
        this.pendingTimer = null;
        const rest = this.pending;
        this.pending = '';
        if (this.running) this.emitKeys(rest);
      }, ESCAPE_WAIT_MS);
      this.pendingTimer.unref?.();
    }
  }

  private emitKeys(text: string): void {
    if (!text) return;
    const at = performance.now();
    for (const t of tokenizeTtyInput(text)) {
      if ('key' in t) this.emit('key', { key: t.key, at });
      else if ('interrupt' in t) this.onInterrupt();
      else this.log.debug('terminal key ignored', { input: t.ignored });
    }
  }
}

import { mkdtempSync, openSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import tty from 'node:tty';
import { describe, expect, it, vi } from 'vitest';
import { memoryLogger } from '../../src/shared/log';
import type { DeviceStatus, KeyName } from './contract';
import { SocatPty } from '../serial/socat-pty';
import { TtyKeypad, tokenizeTtyInput, unfinishedEscapeAt } from './tty';

const keysOf = (text: string) => tokenizeTtyInput(text).flatMap((t) => ('key' in t ? [t.key] : []));

describe('tokenizeTtyInput', () => {
  it('maps the documented keys', () => {
    expect(keysOf('0123456789.,z\r\x7f\b-x+c*m/')).toEqual([
      ...'0123456789'.split(''),
      '.',
      '.',
      '00',
      'enter',
      'backspace',
      'backspace',
      'backspace',
      'cancel',
      'cancel',
      'clear',
      'clear',
      'menu',
      'menu',
    ]);
  });

  it('tells a lone Esc (cancel) from escape sequences', () => {
    expect(keysOf('\x1b')).toEqual(['cancel']);
    expect(keysOf('\x1bOP\x1b[12~\x1b[3~\x1bOM\x1bOq')).toEqual(['f1', 'f2', 'backspace', 'enter', '1']);
    // Arrow keys and unknown sequences are ignored whole, not read as Esc + letters.
    expect(tokenizeTtyInput('\x1b[A\x1b[1;5C')).toEqual([{ ignored: 'ESC [A' }, { ignored: 'ESC [1;5C' }]);
  });

  it('reads CR LF from a pipe as one Enter, and reports Ctrl-C as an interrupt', () => {
    expect(keysOf('12\r\n5\n')).toEqual(['1', '2', 'enter', '5', 'enter']);
    expect(tokenizeTtyInput('1\x03')).toEqual([{ key: '1' }, { interrupt: true }]);
  });
});

describe('TtyKeypad', () => {
  it('emits keys from piped input, Ctrl-C interrupts, end of input is a disconnect, nothing after stop', async () => {
    const input = new PassThrough();
    const onInterrupt = vi.fn();
    const kp = new TtyKeypad(input as unknown as NodeJS.ReadStream, memoryLogger(), { onInterrupt });
    const keys: KeyName[] = [];
    const statuses: DeviceStatus[] = [];
    kp.on('key', (e) => keys.push(e.key));
    kp.on('status', (s) => statuses.push(s));
    await kp.start();
    input.write('12.5');
    input.write('0\n');
    input.write('\x03');
    await vi.waitFor(() => expect(onInterrupt).toHaveBeenCalledTimes(1));
    expect(keys).toEqual(['1', '2', '.', '5', '0', 'enter']);
    input.end();
    await vi.waitFor(() => expect(statuses).toEqual([{ connected: true }, { connected: false, reason: 'terminal input closed' }]));
    await kp.stop();
    await kp.stop();
  });

  it('an escape sequence split across reads is one key, in order; a lone Esc is still Cancel', async () => {
    const input = new PassThrough();
    const kp = new TtyKeypad(input as unknown as NodeJS.ReadStream, memoryLogger(), { onInterrupt: () => undefined });
    const keys: KeyName[] = [];
    kp.on('key', (e) => keys.push(e.key));
    await kp.start();
    const tick = () => new Promise((r) => setTimeout(r, 5));
    // Delete (ESC [ 3 ~) split after "3", keypad 0 in application mode (ESC O p) split after ESC, then a digit.
    for (const part of ['1', '\x1b[3', '~', '\x1b', 'Op', '7']) {
      input.write(part);
      await tick();
    }
    await vi.waitFor(() => expect(keys).toEqual(['1', 'backspace', '0', '7']));
    // Esc pressed on its own: Cancel once nothing follows.
    input.write('\x1b');
    await vi.waitFor(() => expect(keys).toEqual(['1', 'backspace', '0', '7', 'cancel']));
    await kp.stop();
    expect(unfinishedEscapeAt('12\x1b[3')).toBe(2);
    expect(unfinishedEscapeAt('12\x1b[3~')).toBe(6);
    expect(unfinishedEscapeAt('\x1bO')).toBe(0);
    expect(unfinishedEscapeAt('\x1bOp')).toBe(3);
  });

  it('a failing input (terminal gone) is a disconnect, not an exception', async () => {
    const input = new PassThrough();
    const kp = new TtyKeypad(input as unknown as NodeJS.ReadStream, memoryLogger(), { onInterrupt: () => undefined });
    const statuses: DeviceStatus[] = [];
    kp.on('status', (s) => statuses.push(s));
    await kp.start();
    input.destroy(new Error('EIO: i/o error, read'));
    await vi.waitFor(() => expect(statuses.at(-1)).toEqual({ connected: false, reason: 'terminal input failed: EIO: i/o error, read' }));
    await kp.stop();
  });

  it('puts a TTY in raw mode while started and restores it on stop', async () => {
    const input = Object.assign(new PassThrough(), { isTTY: true, setRawMode: vi.fn() });
    const kp = new TtyKeypad(input as unknown as NodeJS.ReadStream, memoryLogger());
    await kp.start();
    expect(input.setRawMode).toHaveBeenLastCalledWith(true);
    await kp.stop();
    expect(input.setRawMode).toHaveBeenLastCalledWith(false);
    expect(kp.description).toBe('tty keyboard');
  });
});

describe('TtyKeypad on a real pseudo-terminal', () => {
  it('switches a cooked terminal to raw mode (keys arrive without Enter, Ctrl-C as a key) and back on stop', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'qrpos-tty-'));
    const pty = new SocatPty(dir, 'tty', 'echo=0');
    await pty.start();
    const fd = openSync(pty.path, 'r+');
    const input = new tty.ReadStream(fd);
    const onInterrupt = vi.fn();
    const kp = new TtyKeypad(input, memoryLogger(), { onInterrupt });
    const keys: KeyName[] = [];
    kp.on('key', (e) => keys.push(e.key));
    try {
      expect(input.isTTY).toBe(true);
      expect(input.isRaw).toBe(false);
      await kp.start();
      expect(input.isRaw).toBe(true);
      pty.send('12z');
      await vi.waitFor(() => expect(keys).toEqual(['1', '2', '00']), { timeout: 5000, interval: 10 });
      pty.send('\x03');
      await vi.waitFor(() => expect(onInterrupt).toHaveBeenCalledTimes(1), { timeout: 5000, interval: 10 });
      await kp.stop();
      expect(input.isRaw).toBe(false);
    } finally {
      input.destroy();
      await pty.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

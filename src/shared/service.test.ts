import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger, silentLogger } from './log';
import { notifyAddress, notifyReady, SystemdNotifier } from './service';

/**
 * A real notify socket (AF_UNIX datagram) served by Python, as systemd serves NOTIFY_SOCKET:
 * what the daemon's own process sends is what systemd would receive. `name` is a path or, with a
 * leading "@", an abstract socket name.
 */
function notifySocket(name: string): { proc: ChildProcess; messages: string[]; ready: Promise<void> } {
  const script = `
import socket, sys
name = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\\0" + name[1:] if name.startswith("@") else name)
print("LISTENING", flush=True)
while True:
    data = s.recv(4096)
    print(data.decode().replace("\\n", " "), flush=True)
`;
  const proc = spawn('python3', ['-c', script, name], { stdio: ['ignore', 'pipe', 'inherit'] });
  const messages: string[] = [];
  let buf = '';
  const ready = new Promise<void>((resolve) => {
    proc.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line === 'LISTENING') resolve();
        else messages.push(line);
      }
    });
  });
  return { proc, messages, ready };
}

async function until(fn: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const pets = (messages: string[]) => messages.filter((m) => m === 'WATCHDOG=1').length;

describe('systemd notify from the daemon process', () => {
  let sock: ReturnType<typeof notifySocket> | undefined;
  let dir: string | undefined;
  let notifier: SystemdNotifier | undefined;
  afterEach(() => {
    notifier?.stopping();
    sock?.proc.kill();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    sock = dir = notifier = undefined;
  });
  const socketFile = () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-notify-'));
    return path.join(dir, 'notify.sock');
  };

  it('reports ready, pets the watchdog at half the interval, and reports stopping', async () => {
    const file = socketFile();
    sock = notifySocket(file);
    await sock.ready;
    notifier = new SystemdNotifier(silentLogger, { NOTIFY_SOCKET: file, WATCHDOG_USEC: '400000', WATCHDOG_PID: String(process.pid) });
    const stop = notifyReady(silentLogger, 'running', notifier);
    await until(() => sock!.messages.includes('READY=1 STATUS=running'));
    await until(() => pets(sock!.messages) >= 2);
    stop();
    await until(() => sock!.messages.includes('STOPPING=1'));
    const n = pets(sock.messages);
    await new Promise((r) => setTimeout(r, 500));
    expect(pets(sock.messages)).toBe(n);
  });

  it('sends to an abstract socket name (@…)', async () => {
    const name = `@qrpos-test-${crypto.randomBytes(6).toString('hex')}`;
    sock = notifySocket(name);
    await sock.ready;
    notifier = new SystemdNotifier(silentLogger, { NOTIFY_SOCKET: name });
    notifier.ready('waiting: no network');
    notifier.status('multi\nline');
    await until(() => sock!.messages.length >= 2);
    expect(sock.messages).toEqual(['READY=1 STATUS=waiting: no network', 'STATUS=multi line']);
  });

  it('sends no watchdog pet while the event loop is blocked, and pets again once it runs', async () => {
    const file = socketFile();
    sock = notifySocket(file);
    await sock.ready;
    const lines: string[] = [];
    const log = createLogger({ level: 'warn', write: (l) => lines.push(l) });
    notifier = new SystemdNotifier(log, { NOTIFY_SOCKET: file, WATCHDOG_USEC: '200000' });
    notifier.startWatchdog();
    await until(() => pets(sock!.messages) >= 2);
    notifier.send({ X_TEST: 'blocked' });
    const end = performance.now() + 600; // three intervals of 100 ms without a turn of the loop
    while (performance.now() < end) {
      /* the event loop is blocked */
    }
    notifier.send({ X_TEST: 'running' });
    await until(() => sock!.messages.indexOf('X_TEST=running') >= 0 && pets(sock!.messages.slice(sock!.messages.indexOf('X_TEST=running'))) >= 2);
    const during = sock.messages.slice(sock.messages.indexOf('X_TEST=blocked') + 1, sock.messages.indexOf('X_TEST=running'));
    expect(during).toEqual([]);
    expect(lines.some((l) => l.includes('the event loop stalled'))).toBe(true);
  });

  it('pets nothing when the watchdog is meant for another process (WATCHDOG_PID)', async () => {
    const file = socketFile();
    sock = notifySocket(file);
    await sock.ready;
    notifier = new SystemdNotifier(silentLogger, { NOTIFY_SOCKET: file, WATCHDOG_USEC: '200000', WATCHDOG_PID: String(process.pid + 1) });
    expect(notifier.watchdogMs()).toBe(0);
    notifier.startWatchdog();
    notifier.ready('running');
    await until(() => sock!.messages.length >= 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(sock.messages).toEqual(['READY=1 STATUS=running']);
  });

  it('an absent or invalid socket is reported once and never thrown', () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'warn', write: (l) => lines.push(l) });
    const gone = new SystemdNotifier(log, { NOTIFY_SOCKET: path.join(os.tmpdir(), `qrpos-no-such-${process.pid}.sock`) });
    gone.ready('running');
    gone.status('still');
    expect(lines.filter((l) => l.includes('not delivered'))).toHaveLength(1);
    expect(lines[0]).toContain('"errno":2'); // ENOENT
    gone.stopping();
    const bad = new SystemdNotifier(log, { NOTIFY_SOCKET: 'relative.sock' });
    bad.ready('running');
    bad.ready('running');
    expect(lines.filter((l) => l.includes('cannot talk to systemd'))).toHaveLength(1);
    expect(() => notifyAddress('/' + 'x'.repeat(107))).toThrow(/longer than 107 bytes/);
    expect(notifyAddress('@abc').len).toBe(2 + 1 + 3);
    expect(notifyAddress('/run/systemd/notify').len).toBe(2 + 19 + 1);
    // Outside systemd nothing is sent and nothing is opened.
    new SystemdNotifier(log, {}, () => {
      throw new Error('opened without NOTIFY_SOCKET');
    }).ready('running');
  });
});

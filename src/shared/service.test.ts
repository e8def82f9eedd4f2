import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from './log';
import { notifyReady } from './service';

/**
 * A real notify socket (AF_UNIX datagram) served by Python, as systemd serves NOTIFY_SOCKET:
 * what qrpos sends through systemd-notify is what systemd would receive.
 */
function notifySocket(file: string): { proc: ChildProcess; messages: string[]; ready: Promise<void> } {
  const script = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("LISTENING", flush=True)
while True:
    data = s.recv(4096)
    print(data.decode().replace("\\n", " "), flush=True)
`;
  const proc = spawn('python3', ['-c', script, file], { stdio: ['ignore', 'pipe', 'inherit'] });
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

describe('systemd notify', () => {
  const saved = { NOTIFY_SOCKET: process.env.NOTIFY_SOCKET, WATCHDOG_USEC: process.env.WATCHDOG_USEC };
  let sock: ReturnType<typeof notifySocket> | undefined;
  afterEach(() => {
    sock?.proc.kill();
    process.env.NOTIFY_SOCKET = saved.NOTIFY_SOCKET;
    process.env.WATCHDOG_USEC = saved.WATCHDOG_USEC;
    if (saved.NOTIFY_SOCKET === undefined) delete process.env.NOTIFY_SOCKET;
    if (saved.WATCHDOG_USEC === undefined) delete process.env.WATCHDOG_USEC;
  });

  it('reports ready, pets the watchdog at half the interval, and reports stopping', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-notify-'));
    const file = path.join(dir, 'notify.sock');
    sock = notifySocket(file);
    await sock.ready;
    process.env.NOTIFY_SOCKET = file;
    process.env.WATCHDOG_USEC = '1000000'; // 1 s → a pet every 500 ms
    const stop = notifyReady(silentLogger, 'running');
    await until(() => sock!.messages.some((m) => m.includes('READY=1') && m.includes('STATUS=running')));
    await until(() => sock!.messages.filter((m) => m.includes('WATCHDOG=1')).length >= 2);
    stop();
    await until(() => sock!.messages.some((m) => m.includes('STOPPING=1')));
    const pets = sock.messages.filter((m) => m.includes('WATCHDOG=1')).length;
    await new Promise((r) => setTimeout(r, 700));
    expect(sock.messages.filter((m) => m.includes('WATCHDOG=1')).length).toBe(pets);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

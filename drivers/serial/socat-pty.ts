/**
 * A real pseudo-terminal standing in for a serial device, made by socat: the driver opens the
 * PTY at `path` with serialport as it would /dev/ttyUSB0; what it writes arrives at `received`.
 * Killing socat is an unplug (the PTY hangs up, the link disappears); starting it again on the
 * same link is a replug (a new /dev/pts number behind the same path).
 *
 * The far end is a Unix socket served here rather than a second PTY: socat only starts copying
 * once both ends are open, so no byte written by the driver is lost to a race with the test
 * opening the other PTY (bytes sent to a PTY nobody has open are dropped).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/** Polls until cond holds; the default wait fits a CI host running several suites at once (5 s ran out there). */
export async function waitUntil(cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export class SocatPty {
  /** Where the driver opens the "serial port". */
  readonly path: string;
  private readonly socketPath: string;
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private child: ChildProcess | null = null;
  private chunks: Buffer[] = [];
  /** Connections made by socat so far: one per start(). */
  connections = 0;

  /**
   * @param ptyOptions socat options of the PTY; the default raw mode is what a serial port looks
   *   like; a cooked PTY ("echo=0") stands in for a terminal.
   */
  constructor(
    dir: string,
    name = 'tty',
    private readonly ptyOptions = 'raw,echo=0',
  ) {
    this.path = path.join(dir, name);
    this.socketPath = path.join(dir, `${name}.peer.sock`);
  }

  get received(): Buffer {
    return Buffer.concat(this.chunks);
  }

  /** Bytes from the far end into the PTY (what a device or a typing person would send). */
  send(data: Buffer | string): void {
    for (const s of this.sockets) s.write(data);
  }

  clearReceived(): void {
    this.chunks = [];
  }

  async start(): Promise<void> {
    if (this.child) return;
    if (!this.server) {
      const server = net.createServer((s) => {
        this.connections++;
        this.sockets.add(s);
        s.on('data', (d) => this.chunks.push(d));
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.socketPath, resolve);
      });
      this.server = server;
    }
    const child = spawn('socat', ['-d', '-d', `pty,${this.ptyOptions},link=${this.path}`, `unix-connect:${this.socketPath}`], { stdio: 'ignore' });
    this.child = child;
    child.once('exit', () => {
      if (this.child === child) this.child = null;
    });
    const n = this.connections;
    await waitUntil(() => existsSync(this.path) && this.connections > n, 'socat to create its PTY and connect');
  }

  /** Unplug: socat goes away, the PTY hangs up and its link disappears. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    this.child = null;
    await waitUntil(() => !existsSync(this.path), 'socat to remove its link');
  }

  async close(): Promise<void> {
    await this.kill();
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = null;
    if (server) await new Promise((r) => server.close(r));
  }
}

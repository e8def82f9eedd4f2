/**
 * What every long-running qrpos command shares: waiting for SIGINT / SIGTERM, and talking to
 * systemd (Type=notify, WatchdogSec=) from the daemon's own process.
 *
 * Node's dgram module has no AF_UNIX datagram sockets, so the datagrams go through libc's
 * socket()/sendto() called by koffi (an FFI whose prebuilt binaries ship inside its npm package:
 * nothing is compiled on the device). The sender is the main process itself, so the units can
 * say NotifyAccess=main and systemd attributes every message to the service; a short-lived
 * `systemd-notify` child, as before, could exit before systemd looked it up and be dropped.
 */
import os from 'node:os';
import type { Logger } from './log';

/** Resolves with the first SIGINT or SIGTERM; the handlers are removed then. */
export function waitForStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const MSG_NOSIGNAL = 0x4000;
/** sizeof(sockaddr_un.sun_path) on Linux. */
const SUN_PATH = 108;

/**
 * The socket address for a NOTIFY_SOCKET value, as struct sockaddr_un bytes and its length: a
 * path ("/run/systemd/notify"), or an abstract name ("@name": a leading NUL byte, and the length
 * counts exactly the name's bytes, since abstract names are not NUL-terminated).
 */
export function notifyAddress(name: string): { addr: Buffer; len: number } {
  const abstract = name.startsWith('@');
  if (!abstract && !name.startsWith('/')) {
    throw new Error(`NOTIFY_SOCKET must be a socket path (/…) or an abstract name (@…), got "${name}"`);
  }
  const bytes = Buffer.from(abstract ? name.slice(1) : name, 'utf8');
  // A path needs room for its terminating NUL; an abstract name has its leading NUL instead.
  if (bytes.length + 1 > SUN_PATH) throw new Error(`NOTIFY_SOCKET is longer than ${SUN_PATH - 1} bytes`);
  if (bytes.length === 0) throw new Error('NOTIFY_SOCKET names no socket');
  const addr = Buffer.alloc(2 + SUN_PATH);
  if (os.endianness() === 'LE') addr.writeUInt16LE(AF_UNIX, 0);
  else addr.writeUInt16BE(AF_UNIX, 0);
  bytes.copy(addr, abstract ? 3 : 2);
  return { addr, len: 2 + 1 + bytes.length };
}

/** One sender of datagrams to one notify socket; send() returns 0 or the errno of a failed send. */
export interface NotifyTransport {
  send(message: Buffer): number;
  close(): void;
}

interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  sendto(fd: number, buf: Buffer, len: number, flags: number, addr: Buffer, addrlen: number): number;
  close(fd: number): number;
  errno(): number;
}

let libc: Libc | null = null;
function loadLibc(): Libc {
  if (libc) return libc;
  const koffi = require('koffi') as { load(path: string): { func(signature: string): unknown }; errno(): number };
  const lib = koffi.load('libc.so.6');
  libc = {
    socket: lib.func('int socket(int, int, int)') as Libc['socket'],
    sendto: lib.func('intptr_t sendto(int, const void *, size_t, int, const void *, uint32_t)') as Libc['sendto'],
    close: lib.func('int close(int)') as Libc['close'],
    errno: () => koffi.errno(),
  };
  return libc;
}

/**
 * An AF_UNIX datagram socket kept open for the life of the process. Non-blocking: a receiver
 * whose queue is full costs a dropped message (EAGAIN), never a stalled event loop.
 */
export function openNotifyTransport(name: string): NotifyTransport {
  const { addr, len } = notifyAddress(name);
  const c = loadLibc();
  const fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new Error(`cannot open a datagram socket for NOTIFY_SOCKET (errno ${c.errno()})`);
  let open = true;
  return {
    send(message) {
      if (!open) return 9; // EBADF
      const n = c.sendto(fd, message, message.length, MSG_NOSIGNAL, addr, len);
      return n < 0 ? c.errno() || -1 : 0;
    },
    close() {
      if (!open) return;
      open = false;
      c.close(fd);
    },
  };
}

/**
 * sd_notify from this process. Outside systemd (no NOTIFY_SOCKET) every call does nothing.
 * A failure is logged once per cause and never thrown: notification must not stop the service.
 */
export class SystemdNotifier {
  private transport: NotifyTransport | null = null;
  private readonly reported = new Set<string>();
  private watchdogTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly log: Logger,
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly open: (name: string) => NotifyTransport = openNotifyTransport,
  ) {}

  /** True when the service manager listens (NOTIFY_SOCKET is set). */
  get enabled(): boolean {
    return Boolean(this.env.NOTIFY_SOCKET);
  }

  /** Sends "KEY=value" assignments in one datagram; values lose their newlines. */
  send(fields: Record<string, string | number>): void {
    const name = this.env.NOTIFY_SOCKET;
    if (!name) return;
    const text = Object.entries(fields)
      .map(([k, v]) => `${k}=${String(v).replace(/[\r\n]+/g, ' ')}`)
      .join('\n');
    try {
      this.transport ??= this.open(name);
    } catch (err) {
      this.once('open', 'cannot talk to systemd', { error: (err as Error).message });
      return;
    }
    const errno = this.transport.send(Buffer.from(text, 'utf8'));
    if (errno !== 0) this.once(`errno ${errno}`, 'systemd notification not delivered', { errno, message: text.split('\n')[0] });
  }

  ready(status: string): void {
    this.send({ READY: 1, STATUS: status });
  }

  status(status: string): void {
    this.send({ STATUS: status });
  }

  /** The watchdog interval systemd asked for (WATCHDOG_USEC), in ms, or 0 when none is for us. */
  watchdogMs(): number {
    const usec = Number(this.env.WATCHDOG_USEC ?? 0);
    if (!Number.isFinite(usec) || usec <= 0) return 0;
    const pid = this.env.WATCHDOG_PID;
    if (pid && Number(pid) !== process.pid) return 0;
    return Math.floor(usec / 1000);
  }

  /**
   * Pets the watchdog at half its interval from a timer on the event loop: the pet is sent only
   * when the loop gets to run the timer, so a loop blocked past the interval gets no pet and
   * systemd restarts the service; a loop that keeps up is never restarted. A late timer (the
   * loop stalled for more than a quarter of the interval) is logged.
   */
  startWatchdog(clock: () => number = () => performance.now()): void {
    const ms = this.watchdogMs();
    if (!this.enabled || ms <= 0 || this.watchdogTimer) return;
    const every = Math.max(100, Math.floor(ms / 2));
    let due = clock() + every;
    this.watchdogTimer = setInterval(() => {
      const now = clock();
      const late = now - due;
      due = now + every;
      if (late > ms / 4) this.log.warn('the event loop stalled', { ms: Math.round(late), watchdogMs: ms });
      this.send({ WATCHDOG: 1 });
    }, every);
    this.watchdogTimer.unref();
  }

  stopWatchdog(): void {
    if (this.watchdogTimer) clearInterval(this.watchdogTimer);
    this.watchdogTimer = null;
  }

  /** STOPPING=1, the watchdog ends, the socket closes. */
  stopping(): void {
    this.stopWatchdog();
    this.send({ STOPPING: 1 });
    this.transport?.close();
    this.transport = null;
  }

  private once(key: string, msg: string, fields: Record<string, unknown>): void {
    if (this.reported.has(key)) return;
    this.reported.add(key);
    this.log.warn(msg, fields);
  }
}

/**
 * Tells systemd the service is ready and starts the watchdog pets. Returns the function that
 * reports STOPPING and ends them.
 */
export function notifyReady(log: Logger, status = 'running', notifier = new SystemdNotifier(log)): () => void {
  notifier.ready(status);
  notifier.startWatchdog();
  return () => notifier.stopping();
}

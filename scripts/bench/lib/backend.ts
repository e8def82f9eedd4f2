/**
 * What the terminal benchmarks share: the Omise simulator and the relay, each in a process of its
 * own on loopback (as in production), started from the compiled program in dist/, and small
 * figures (percentiles, a process's RSS).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import readline from 'node:readline';
import { REPO_ROOT } from '../../../src/terminal/testing/bundle';

export function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
export const QRPOS_CLI = path.join(REPO_ROOT, 'scripts', 'qrpos.cjs');

/** Starts `qrpos <args>` and resolves with the first stdout line `pick` accepts (and the process). */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv, pick: (line: string) => string | undefined, what: string): Promise<{ child: ChildProcess; value: string }> {
  const child = spawn(process.execPath, [QRPOS_CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what} did not start within 20 s`));
    }, 20_000);
    const lines = readline.createInterface({ input: child.stdout });
    let found = false;
    lines.on('line', (line) => {
      if (found) return;
      const v = pick(line);
      if (v === undefined) return;
      found = true;
      clearTimeout(timer);
      // Keep draining stdout (the logs) so the child never blocks on a full pipe.
      resolve({ child, value: v });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (!found) reject(new Error(`${what} exited with code ${code} before it was ready`));
    });
  });
}

export function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** The simulator and the relay, each in its own process, wired to each other on loopback. */
export interface Backend {
  simUrl: string;
  relayUrl: string;
  simPid: number;
  relayPid: number;
  pair(name: string): Promise<{ terminalId: string; credential: string }>;
  close(): Promise<void>;
}

export async function startBackend(dir: string): Promise<Backend> {
  const bdir = fs.mkdtempSync(path.join(dir, 'backend-'));
  const secretKey = `skey_test_${randomBytes(12).toString('hex')}`;
  const publicKey = `pkey_test_${randomBytes(12).toString('hex')}`;
  const webhookSecret = randomBytes(32).toString('base64');
  const adminToken = randomBytes(24).toString('hex');
  const quiet = { QRPOS_LOG_LEVEL: 'error' };
  const sim = await spawnCli(
    ['sim', '--port', '0', '--country', 'TH', '--public-key', publicKey, '--secret-key', secretKey, '--webhook-secret', webhookSecret],
    quiet,
    (l) => /^Omise simulator listening on (\S+)/.exec(l)?.[1],
    'simulator',
  );
  const children = [sim.child];
  try {
    const simUrl = sim.value;
    const secretsFile = path.join(bdir, 'relay-secrets.json');
    fs.writeFileSync(secretsFile, JSON.stringify({ omiseSecretKey: secretKey, omisePublicKey: publicKey, webhookSecret, adminToken }), { mode: 0o600 });
    const configFile = path.join(bdir, 'relay.json');
    // The relay's defaults otherwise: SQLite with synchronous=FULL on disk, 15 s heartbeats.
    fs.writeFileSync(configFile, JSON.stringify({ version: 1, listen: { host: '127.0.0.1', port: 0 }, country: 'TH', omise: { baseUrl: simUrl }, dataDir: path.join(bdir, 'relay'), secretsFile }));
    const relay = await spawnCli(
      ['relay', '--config', configFile],
      // Info level, as in production (one JSON line per request); only "listening" is read here.
      { QRPOS_LOG_LEVEL: 'info' },
      (l) => {
        try {
          const rec = JSON.parse(l) as { msg?: string; url?: string };
          return rec.msg === 'relay listening' ? rec.url : undefined;
        } catch {
          return undefined;
        }
      },
      'relay',
    );
    children.push(relay.child);
    const relayUrl = relay.value;
    const hook = await fetch(`${simUrl}/_sim/webhook`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: `${relayUrl}/webhooks/omise` }) });
    if (!hook.ok) throw new Error(`could not point the simulator's webhooks at the relay: ${hook.status}`);
    await hook.text();
    return {
      simUrl,
      relayUrl,
      simPid: sim.child.pid!,
      relayPid: relay.child.pid!,
      async pair(name) {
        const start = (await (
          await fetch(`${relayUrl}/v1/pair`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, version: 'bench' }) })
        ).json()) as { code: string; pairingId: string; pairingSecret: string };
        const ok = await fetch(`${relayUrl}/admin/pairings/approve`, {
          method: 'POST',
          headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ code: start.code, name }),
        });
        if (!ok.ok) throw new Error(`pairing approval failed: ${ok.status} ${await ok.text()}`);
        await ok.text();
        const polled = (await (await fetch(`${relayUrl}/v1/pair/${start.pairingId}`, { headers: { 'x-pairing-secret': start.pairingSecret } })).json()) as {
          terminalId: string;
          credential: string;
        };
        return { terminalId: polled.terminalId, credential: polled.credential };
      },
      async close() {
        for (const c of children.reverse()) await stopChild(c);
        fs.rmSync(bdir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    for (const c of children) await stopChild(c);
    throw err;
  }
}

export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}


/** The terminal's status endpoint (GET /status) on a unix socket; null when it does not answer. */
export function getStatus<T>(sock: string): Promise<T | null> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath: sock, path: '/status' }, (res) => {
      let b = '';
      res.on('data', (c: Buffer) => (b += c.toString()));
      res.on('end', () => {
        try {
          resolve(JSON.parse(b) as T);
        } catch {
          resolve(null);
        }
      });
    });
    req.on('error', () => resolve(null));
  });
}

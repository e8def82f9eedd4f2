/**
 * Simulator throughput and client overhead, over loopback.
 *   npx tsx scripts/bench/simulator.ts [--charges 20000] [--concurrency 32]
 * The simulator runs in its own process (as in real use), so the load generator does not
 * share its event loop.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { OMISE_API_VERSION } from '../../src/omise/api';
import { OmiseClient } from '../../src/omise/client';

const TARGET_PER_SEC = 2000;
const PKEY = 'pkey_test_bench0000000000';
const SKEY = 'skey_test_bench0000000000';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : Number(process.argv[i + 1]);
}

async function startSim(): Promise<{ url: string; child: ChildProcess }> {
  const root = join(__dirname, '..', '..');
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'sim', '--port', '0', '--public-key', PKEY, '--secret-key', SKEY], {
    cwd: root,
    env: { ...process.env, QRPOS_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ url: m[1], child });
    });
    child.once('exit', (code) => reject(new Error(`simulator exited (${code})`)));
  });
}

const AUTH = `Basic ${Buffer.from(`${SKEY}:`).toString('base64')}`;

function raw(agent: Agent, url: URL, method: string, path: string, body?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        method,
        path,
        headers: {
          authorization: AUTH,
          'omise-version': OMISE_API_VERSION,
          ...(body ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } : {}),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function pool(n: number, concurrency: number, task: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await task(next++);
    }),
  );
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function main(): Promise<void> {
  const n = arg('charges', 20000);
  const concurrency = arg('concurrency', 32);
  const { url, child } = await startSim();
  const u = new URL(url);
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const body = 'amount=150000&currency=THB&source%5Btype%5D=alipayplus_mpm&metadata%5Bsale%5D=bench';
  try {
    // warm-up
    await pool(500, concurrency, async () => {
      await raw(agent, u, 'POST', '/charges', body);
    });
    let bad = 0;
    const ms = await pool(n, concurrency, async () => {
      if ((await raw(agent, u, 'POST', '/charges', body)) !== 200) bad++;
    });
    const rate = (n / ms) * 1000;
    console.log(`charges created (raw http, keep-alive, concurrency ${concurrency}): ${n} in ${ms.toFixed(0)} ms = ${rate.toFixed(0)}/s (target >= ${TARGET_PER_SEC}/s) ${rate >= TARGET_PER_SEC ? 'OK' : 'BELOW TARGET'}${bad ? `, ${bad} non-200` : ''}`);

    const client = new OmiseClient({ baseUrl: url, publicKey: PKEY, secretKey: SKEY });
    const nc = Math.min(n, 10000);
    const msClient = await pool(nc, concurrency, async () => {
      await client.createCharge({ amount: 150000, currency: 'THB', source: { type: 'alipayplus_mpm' }, metadata: { sale: 'bench' } });
    });
    console.log(`charges created (OmiseClient, concurrency ${concurrency}): ${nc} in ${msClient.toFixed(0)} ms = ${((nc / msClient) * 1000).toFixed(0)}/s`);

    // Per-call overhead: sequential retrieves, raw http.request vs the client.
    const charge = await client.createCharge({ amount: 150000, currency: 'THB', source: { type: 'alipayplus_mpm' } });
    const seq = 2000;
    for (let i = 0; i < 200; i++) await client.retrieveCharge(charge.id);
    const rawMs = await pool(seq, 1, async () => {
      await raw(agent, u, 'GET', `/charges/${charge.id}`);
    });
    const cliMs = await pool(seq, 1, async () => {
      await client.retrieveCharge(charge.id);
    });
    const perRaw = (rawMs / seq) * 1000;
    const perCli = (cliMs / seq) * 1000;
    console.log(`retrieve charge, sequential: raw http.request ${perRaw.toFixed(0)} µs/call, OmiseClient ${perCli.toFixed(0)} µs/call, client overhead ${(perCli - perRaw).toFixed(0)} µs/call`);
  } finally {
    agent.destroy();
    child.kill('SIGTERM');
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});

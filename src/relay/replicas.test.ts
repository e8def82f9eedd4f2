/**
 * Several relays on one PostgreSQL database, as an operator runs them behind a load balancer:
 * real relay processes, a throwaway PostgreSQL cluster, the Omise simulator over HTTP. What one
 * replica stores, every other one acts on; what must happen once (one charge per sale, one event
 * per change) happens once however the requests are spread; and `kill -9` of a replica in the
 * middle of 500 webhooks/s loses nothing.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import pgClient from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSource } from '../../scripts/setup/testkit';
import { signWebhook } from '../omise/webhook-signature';
import { buildScratch, makeKeys } from '../release/testing';
import { removeScratch, SCRATCH_REMOVAL_MS } from '../shared/testing/scratch';
import { startSimulator, type SimulatorHandle } from '../simulator/server';
import { CLOSE_REVOKED } from './stream';
import { startBalancer, type Balancer } from './testing/balancer';
import { findPostgresBin, NO_POSTGRES_MESSAGE, startPostgresCluster, type PostgresCluster } from './testing/postgres-cluster';
import { LiveTerminal, spawnReplica, type ReplicaProcess } from './testing/replicas';
import { call, connectStream, newSaleId, until } from './testing/testkit';

const ADMIN = 'admin-token-for-replica-tests-0123456789';
const pg = findPostgresBin();
if (!pg) console.warn(`replicas.test.ts skipped: ${NO_POSTGRES_MESSAGE}`);

describe.skipIf(!pg)('several relays on one PostgreSQL database', () => {
  let dir: string;
  let cluster: PostgresCluster;
  let sim: SimulatorHandle;
  const replicas: ReplicaProcess[] = [];
  let lb: Balancer;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-replicas-'));
    cluster = await startPostgresCluster();
    sim = await startSimulator({ country: 'TH', webhookUrl: null });
    const omise = { url: sim.url, secretKey: sim.secretKey, webhookSecret: sim.webhookSecret };
    // One after the other: the first one migrates the schema (the others would wait for its lock anyway).
    for (let i = 0; i < 3; i++) replicas.push(await spawnReplica({ dir: path.join(dir, `r${i}`), omise, storeUrl: cluster.url, adminToken: ADMIN }));
    lb = await startBalancer(replicas.map((r) => ({ host: '127.0.0.1', port: r.port })));
  }, 180_000);

  afterAll(async () => {
    await lb?.close();
    await Promise.all(replicas.map((r) => r.stop()));
    await sim?.stop();
    await cluster?.stop();
    await removeScratch(dir);
  }, SCRATCH_REMOVAL_MS);

  /** Pairs through three different replicas: asked at one, approved at another, collected at a third. */
  async function pair(name: string, at = [0, 1, 2]): Promise<{ terminalId: string; credential: string }> {
    const [ask, approve, collect] = at.map((i) => replicas[i].url);
    const started = await call(ask, 'POST', '/v1/pair', { body: { name, version: '0.1.0', device: 'test' } });
    expect(started.status).toBe(201);
    const approved = await call(approve, 'POST', '/admin/pairings/approve', { token: ADMIN, body: { code: started.body.code } });
    expect(approved.status).toBe(200);
    const polled = await call(collect, 'GET', `/v1/pair/${started.body.pairingId}`, { headers: { 'x-pairing-secret': started.body.pairingSecret } });
    expect(polled.body.status).toBe('approved');
    return { terminalId: polled.body.terminalId as string, credential: polled.body.credential as string };
  }

  /** Posts a charge's webhook as Omise would, freshly signed; the HTTP status, or 0 when the connection failed. */
  function postWebhook(url: string, body: Buffer): Promise<number> {
    const ts = Math.floor(Date.now() / 1000);
    const u = new URL(`${url}/webhooks/omise`);
    return new Promise((resolve) => {
      const req = http.request(
        {
          host: u.hostname,
          port: u.port,
          path: u.pathname,
          method: 'POST',
          agent: false,
          headers: { 'content-type': 'application/json', 'content-length': body.length, 'omise-signature': signWebhook(body, sim.webhookSecret, ts), 'omise-signature-timestamp': String(ts) },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', () => resolve(0));
      req.end(body);
    });
  }

  /** Each charge.complete event at the simulator, as the webhook body Omise sends, by charge id. */
  function completeBodies(): Map<string, Buffer> {
    const m = new Map<string, Buffer>();
    for (const e of sim.events()) if (e.key === 'charge.complete') m.set((e.data as { id: string }).id, Buffer.from(JSON.stringify(e)));
    return m;
  }

  /**
   * For a chaos run that failed: each paid sale missing at its terminal, what the database holds
   * for it (sale, webhook event, the terminal's cursor and events), each terminal's link, and the
   * last lines of every replica.
   */
  async function whereAreTheMissing(sales: { saleId: string; term: number; chargeId: string }[], lives: LiveTerminal[], victim: ReplicaProcess): Promise<string> {
    const missing = sales.filter((s) => !lives[s.term].salesWith('successful').has(s.saleId));
    const lines = [`${missing.length} of ${sales.length} paid sales missing at their terminal:`];
    const db = new pgClient.Client({ connectionString: cluster.url });
    try {
      await db.connect();
      // Sessions holding a transaction open or waiting for a lock: what would hold events back.
      const stuck = await db.query(
        `SELECT pid, application_name, state, wait_event_type, wait_event, now() - xact_start AS in_tx, left(query, 120) AS query, pg_blocking_pids(pid) AS blocked_by
         FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND (state LIKE 'idle in transaction%' OR wait_event_type = 'Lock')`,
      );
      for (const r of stuck.rows) lines.push(`  session ${JSON.stringify(r)}`);
      for (const s of missing.slice(0, 10)) {
        const sale = (await db.query('SELECT terminal_id, status, updated_at FROM sales WHERE sale_id = $1', [s.saleId])).rows[0] as Record<string, string> | undefined;
        const hook = (await db.query('SELECT status, attempts, last_error FROM webhook_events WHERE object_id = $1', [s.chargeId])).rows;
        const term = sale ? ((await db.query('SELECT last_seq, acked_seq FROM terminals WHERE id = $1', [sale.terminal_id])).rows[0] as Record<string, number>) : undefined;
        const events = sale ? (await db.query('SELECT seq FROM events WHERE terminal_id = $1 AND body LIKE $2', [sale.terminal_id, `%${s.saleId}%`])).rows : [];
        const told = lives[s.term].events.filter(({ event }) => event.kind === 'sale.updated' && event.sale.saleId === s.saleId).map(({ seq, event }) => `${seq}:${event.kind === 'sale.updated' ? event.sale.status : ''}`);
        lines.push(
          `  sale ${s.saleId} (terminal ${s.term}): ${sale ? `${sale.status} at ${sale.updated_at}` : 'not in the database'}; told ${JSON.stringify(told)}; webhook ${JSON.stringify(hook)}; ` +
            `terminal cursor ${JSON.stringify(term)}; its events still stored ${JSON.stringify(events.map((e: { seq: number }) => e.seq))}`,
        );
      }
    } catch (err) {
      lines.push(`  (database not readable: ${(err as Error).message})`);
    } finally {
      await db.end().catch(() => undefined);
    }
    lives.forEach((l, i) => lines.push(`  terminal ${i}: ${l.describe()}`));
    lines.push(`PostgreSQL's log:\n${cluster.serverLog().split('\n').slice(-15).join('\n')}`);
    // Warnings and errors only: every sale logs a line at info.
    const notable = (out: string) => out.split('\n').filter((l) => /"level":"(warn|error)"/.test(l) || (l && !l.startsWith('{')));
    replicas.forEach((r, i) => lines.push(`replica ${i}${r === victim ? ' (killed)' : ''}, last warnings:\n${notable(r.output()).slice(-8).join('\n')}`));
    return lines.join('\n');
  }

  const chargesOf = (saleId: string) => sim.charges().filter((c) => (c.metadata as Record<string, unknown> | undefined)?.qrpos_sale_id === saleId);

  it('pairs across replicas; an event reaches the terminal wherever it is connected; one charge per sale asked of two replicas at once; a revoke anywhere closes the stream', async () => {
    const t = await pair('till-a');
    const live = new LiveTerminal(replicas[0].url, t.credential);
    live.start();
    try {
      await until(() => live.connects > 0, 'the stream on replica 0');

      // The same sale asked of two replicas at the same moment: one charge, the same answer.
      const ids = Array.from({ length: 8 }, () => newSaleId('twice'));
      const answers = await Promise.all(
        ids.flatMap((saleId) => [0, 1].map((i) => call(replicas[i].url, 'POST', '/v1/sales', { token: t.credential, body: { saleId, amount: 5000, currency: 'THB' } }))),
      );
      for (const a of answers) expect(a.status, JSON.stringify(a.body)).toBe(200);
      for (const saleId of ids) {
        expect(chargesOf(saleId)).toHaveLength(1);
        const both = answers.filter((a) => a.body.saleId === saleId).map((a) => a.body.chargeId as string);
        expect(new Set(both).size).toBe(1);
      }

      // Paid: the webhook arrives at replica 2, the terminal is connected to replica 0.
      const charge = chargesOf(ids[0])[0];
      sim.markAsPaid(charge.id);
      expect(await postWebhook(replicas[2].url, completeBodies().get(charge.id)!)).toBe(200);
      await until(() => live.salesWith('successful').get(ids[0]) === 1, 'the paid event at the terminal on replica 0', 10_000);
      expect(live.duplicates).toBe(0);

      // Two events about one charge (Omise sends several) at two replicas at the same moment: the
      // sale changes once, and the terminal is told once.
      const rest = ids.slice(1).map((saleId) => chargesOf(saleId)[0]);
      for (const c of rest) sim.markAsPaid(c.id);
      const bodies = completeBodies();
      const statuses = await Promise.all(
        rest.flatMap((c) => {
          const event = JSON.parse(bodies.get(c.id)!.toString()) as { id: string };
          const twin = Buffer.from(JSON.stringify({ ...event, id: `${event.id}x` }));
          return [postWebhook(replicas[1].url, bodies.get(c.id)!), postWebhook(replicas[2].url, twin)];
        }),
      );
      expect(statuses.every((x) => x === 200)).toBe(true);
      await until(() => ids.every((id) => live.salesWith('successful').has(id)), 'every sale paid at the terminal', 10_000);
      await new Promise((r) => setTimeout(r, 500));
      for (const id of ids) expect(live.salesWith('successful').get(id), id).toBe(1);
    } finally {
      await live.stop();
    }

    // Revoked through replica 1 while its stream is open on replica 2.
    const stream = await connectStream(replicas[2].url, t.credential);
    expect((await call(replicas[1].url, 'POST', `/admin/terminals/${t.terminalId}/revoke`, { token: ADMIN })).status).toBe(200);
    await until(() => stream.closed, 'the stream closed by the revoke', 10_000);
    expect(stream.closed!.code).toBe(CLOSE_REVOKED);
    expect((await call(replicas[0].url, 'GET', '/v1/me', { token: t.credential })).status).toBe(401);
  }, 60_000);

  it('kill -9 of a replica during 500 webhooks/s: terminals reconnect to another, 0 events lost or duplicated, 0 sales with two charges', async () => {
    const TERMINALS = 12;
    const SALES = 600;
    const RATE = 500;
    const terms: Awaited<ReturnType<typeof pair>>[] = [];
    for (let i = 0; i < TERMINALS; i++) terms.push(await pair(`chaos-${i}`, [i % 3, (i + 1) % 3, (i + 2) % 3]));
    const lives = terms.map((t) => new LiveTerminal(lb.url, t.credential));
    for (const l of lives) l.start();
    await until(() => lives.every((l) => l.connects > 0), 'every terminal connected through the balancer', 20_000);

    // Sales through the balancer, so every replica takes some.
    const sales: { saleId: string; term: number; chargeId: string }[] = [];
    for (let i = 0; i < SALES; i += 20) {
      const part = await Promise.all(
        Array.from({ length: Math.min(20, SALES - i) }, async (_, k) => {
          const term = (i + k) % TERMINALS;
          const saleId = newSaleId('chaos');
          const r = await call(lb.url, 'POST', '/v1/sales', { token: terms[term].credential, body: { saleId, amount: 3000 + i + k, currency: 'THB' } });
          expect(r.status, JSON.stringify(r.body)).toBe(200);
          return { saleId, term, chargeId: r.body.chargeId as string };
        }),
      );
      for (const s of part) {
        sim.markAsPaid(s.chargeId);
        sales.push(s);
      }
    }
    const bodies = completeBodies();

    // Webhooks at RATE/s through the balancer; one that fails is sent again, as Omise does.
    const victim = replicas[2];
    let sent = 0;
    let answered = 0;
    let resent = 0;
    const queue = [...bodies.values()];
    const deliver = async (body: Buffer): Promise<void> => {
      for (let attempt = 0; ; attempt++) {
        const status = await postWebhook(lb.url, body);
        if (status === 200) return void answered++;
        if (attempt > 50) {
          const tails = replicas.map((r, i) => `replica ${i}${r === victim ? ' (killed)' : ''} exit ${r.proc.exitCode ?? r.proc.signalCode ?? 'running'}:\n${r.output().split('\n').slice(-8).join('\n')}`);
          throw new Error(`a webhook was refused ${attempt} times (last: ${status})\n${tails.join('\n')}`);
        }
        resent++;
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const inFlight: Promise<void>[] = [];
    const started = Date.now();
    let killed = false;
    while (sent < queue.length) {
      const due = Math.min(queue.length, Math.floor(((Date.now() - started) / 1000) * RATE) + 1);
      while (sent < due) inFlight.push(deliver(queue[sent++]));
      if (!killed && sent >= queue.length / 3) {
        killed = true;
        await victim.kill9();
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    await Promise.all(inFlight);
    expect(answered).toBe(queue.length);

    try {
      await until(
        () => sales.every((s) => lives[s.term].salesWith('successful').has(s.saleId)),
        'every paid sale at its terminal',
        60_000,
        100,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${await whereAreTheMissing(sales, lives, victim)}`, { cause: err });
    }
    for (const l of lives) await l.stop();
    for (const l of lives) {
      expect(l.duplicates).toBe(0);
      for (const n of l.salesWith('successful').values()) expect(n).toBe(1);
    }
    for (const s of sales) expect(chargesOf(s.saleId)).toHaveLength(1);
    // The kill mattered: the terminals it held came back through another replica.
    expect(lives.some((l) => l.connects > 1)).toBe(true);
    expect(victim.proc.signalCode).toBe('SIGKILL');
    console.log(`chaos: ${queue.length} webhooks at ${RATE}/s, ${resent} sent again after the kill, ${lives.reduce((n, l) => n + l.connects - 1, 0)} reconnections`);
  }, 180_000);

  it('moving to PostgreSQL: `qrpos relay store copy` takes a SQLite relay over whole; `relay report` asks the relays', async () => {
    const movedUrl = await cluster.createDatabase('moved');
    const omise = { url: sim.url, secretKey: sim.secretKey, webhookSecret: sim.webhookSecret };
    // A relay on SQLite (its secrets already name the database it will move to), with a paid sale.
    const old = await spawnReplica({ dir: path.join(dir, 'sqlite'), omise, storeUrl: movedUrl, adminToken: ADMIN, config: { store: 'sqlite' } });
    let terminalId: string;
    let credential: string;
    const saleId = newSaleId('moved');
    try {
      const started = await call(old.url, 'POST', '/v1/pair', { body: { name: 'till-moved', version: '0.1.0', device: 'test' } });
      expect((await call(old.url, 'POST', '/admin/pairings/approve', { token: ADMIN, body: { code: started.body.code } })).status).toBe(200);
      const polled = await call(old.url, 'GET', `/v1/pair/${started.body.pairingId}`, { headers: { 'x-pairing-secret': started.body.pairingSecret } });
      ({ terminalId, credential } = polled.body as { terminalId: string; credential: string });
      const r = await call(old.url, 'POST', '/v1/sales', { token: credential, body: { saleId, amount: 4200, currency: 'THB' } });
      expect(r.status).toBe(200);
      sim.markAsPaid(r.body.chargeId as string);
      expect(await postWebhook(old.url, completeBodies().get(r.body.chargeId as string)!)).toBe(200);
      await until(async () => (await call(old.url, 'GET', `/v1/sales/${saleId}`, { token: credential })).body.status === 'successful', 'the sale paid');
    } finally {
      await old.stop();
    }
    const configFile = path.join(dir, 'sqlite', 'relay.json');
    const sqliteConfig = fs.readFileSync(configFile, 'utf8');
    // On a SQLite config the command says what to set, and copies nothing.
    const refused = await qrpos(['relay', 'store', 'copy', '--config', configFile]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/"store": "postgres"/);

    fs.writeFileSync(configFile, JSON.stringify({ ...JSON.parse(sqliteConfig), store: 'postgres' }));
    const copied = await qrpos(['relay', 'store', 'copy', '--config', configFile]);
    expect(copied.stderr).toBe('');
    expect(copied.code).toBe(0);
    expect(copied.stdout).toMatch(/^terminals\s+1$/m);
    expect(copied.stdout).toMatch(/^sales\s+1$/m);
    // Never twice into a store that holds data; the URL's password is never printed.
    const again = await qrpos(['relay', 'store', 'copy', '--config', configFile]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/store copy: .*(empty|data)/);
    expect(again.stderr + again.stdout).not.toContain(cluster.password);

    // A relay on PostgreSQL carries on: the same credential, the same sale, and the report.
    const moved = await spawnReplica({ dir: path.join(dir, 'moved'), omise, storeUrl: movedUrl, adminToken: ADMIN });
    try {
      expect((await call(moved.url, 'GET', '/v1/me', { token: credential })).body.terminalId).toBe(terminalId);
      expect((await call(moved.url, 'GET', `/v1/sales/${saleId}`, { token: credential })).body.status).toBe('successful');
      const report = await qrpos(['relay', 'report', '--config', path.join(dir, 'moved', 'relay.json'), '--json', '--url', moved.url]);
      expect(report.stderr).toBe('');
      expect(report.code).toBe(0);
      const day = JSON.parse(report.stdout) as { terminals: { name: string }[]; totals: { paid: { count: number; amount: number } }[] };
      expect(day.terminals.map((t) => t.name)).toContain('till-moved');
      expect(day.totals.reduce((n, r) => n + r.paid.amount, 0)).toBe(4200);
    } finally {
      await moved.stop();
    }
  }, 120_000);

  it('fleet updates: a bundle added through one relay downloads from another when releases.dir is a folder they share', async () => {
    const base = path.join(dir, 'fleet');
    fs.mkdirSync(base);
    const keys = makeKeys(base);
    const { source, nodeModules } = makeSource(base);
    const bundle = (await buildScratch({ source, nodeModules, keys, outDir: path.join(base, 'out'), version: '2.0.0' })).file;
    const url = await cluster.createDatabase('fleet');
    const omise = { url: sim.url, secretKey: sim.secretKey, webhookSecret: sim.webhookSecret };
    const shared = path.join(base, 'shared-releases');
    const config = { releases: { dir: shared, keysFile: keys.pubFile } };
    const a = await spawnReplica({ dir: path.join(base, 'a'), omise, storeUrl: url, adminToken: ADMIN, config });
    const b = await spawnReplica({ dir: path.join(base, 'b'), omise, storeUrl: url, adminToken: ADMIN, config });
    // One left on its own folder (the default): it knows the release (the database) but not the bytes.
    const c = await spawnReplica({ dir: path.join(base, 'c'), omise, storeUrl: url, adminToken: ADMIN, config: { releases: { keysFile: keys.pubFile } } });
    try {
      const added = await fetch(`${a.url}/admin/releases`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/gzip' }, body: fs.readFileSync(bundle) });
      expect(added.status).toBe(201);
      const started = await call(a.url, 'POST', '/v1/pair', { body: { name: 'till-fleet', version: '1.0.0', device: 'test' } });
      expect((await call(a.url, 'POST', '/admin/pairings/approve', { token: ADMIN, body: { code: started.body.code } })).status).toBe(200);
      const { credential } = (await call(a.url, 'GET', `/v1/pair/${started.body.pairingId}`, { headers: { 'x-pairing-secret': started.body.pairingSecret } })).body as { credential: string };
      expect((await call(b.url, 'POST', '/admin/releases/2.0.0/rollout', { token: ADMIN, body: { target: 'all' } })).status).toBe(200);
      const offer = await call(b.url, 'GET', `/v1/release?arch=${process.arch}`, { token: credential });
      expect(offer.body.release).toMatchObject({ version: '2.0.0' });
      const got = await fetch(`${b.url}/v1/release/2.0.0/bundle?arch=${process.arch}`, { headers: { authorization: `Bearer ${credential}` } });
      expect(got.status).toBe(200);
      expect(Buffer.from(await got.arrayBuffer()).equals(fs.readFileSync(bundle))).toBe(true);
      const missing = await fetch(`${c.url}/v1/release/2.0.0/bundle?arch=${process.arch}`, { headers: { authorization: `Bearer ${credential}` } });
      expect(missing.status).toBe(404);
      await until(() => c.output().includes('releases.dir must be a folder they share'), 'the reason in the log');
    } finally {
      await Promise.all([a.stop(), b.stop(), c.stop()]);
    }
  }, 180_000);
});

/** Runs the qrpos CLI (from source) to its end. */
function qrpos(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', '-e', `require('./src/cli/main').main(process.argv.slice(1)).then((c) => process.exit(c))`, ...args], {
      cwd: path.resolve(__dirname, '../..'),
      env: { ...process.env, NOTIFY_SOCKET: '' },
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type SimulatorHandle } from '../simulator/server';
import { until } from './testing/testkit';
import { freePort } from '../shared/testing/free-port';

const ROOT = path.resolve(__dirname, '../..');


describe('qrpos relay: SIGHUP (systemctl reload) re-reads the secrets file', () => {
  let dir: string;
  let sim: SimulatorHandle;
  let child: ChildProcess;
  let out = '';
  let url: string;
  const secretsFile = () => path.join(dir, 'relay.secrets.json');
  const writeSecrets = (adminToken: string) =>
    fs.writeFileSync(secretsFile(), JSON.stringify({ omiseSecretKey: sim.secretKey, webhookSecret: sim.webhookSecret, adminToken }), { mode: 0o600 });
  const admin = async (token: string) => (await fetch(`${url}/admin/terminals`, { headers: { authorization: `Bearer ${token}` } })).status;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-relay-hup-'));
    sim = await startSimulator({ country: 'TH' });
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    fs.writeFileSync(
      path.join(dir, 'relay.json'),
      JSON.stringify({ version: 1, listen: { host: '127.0.0.1', port }, country: 'TH', omise: { baseUrl: sim.url }, dataDir: path.join(dir, 'data'), secretsFile: 'relay.secrets.json' }),
    );
    writeSecrets('first-admin-token-0123456789abcdefXYZ');
    child = spawn(process.execPath, ['--import', 'tsx', '-e', `require('./src/cli/main').main(process.argv.slice(1)).then((c) => process.exit(c))`, 'relay', '--config', path.join(dir, 'relay.json')], {
      cwd: ROOT,
      env: { ...process.env, NOTIFY_SOCKET: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    await until(async () => (await fetch(`${url}/healthz`).catch(() => null))?.ok, `relay up (${out})`, 20_000, 100);
  }, 30_000);

  afterAll(async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    await sim.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('swaps the admin token on SIGHUP, keeps the old secrets when the file is broken, exits 0 on SIGTERM', async () => {
    expect(await admin('first-admin-token-0123456789abcdefXYZ')).toBe(200);
    const next = crypto.randomBytes(24).toString('base64url');
    writeSecrets(next);
    child.kill('SIGHUP');
    await until(async () => (await admin(next)) === 200, 'new token accepted', 10_000, 50);
    expect(await admin('first-admin-token-0123456789abcdefXYZ')).toBe(401);

    // A broken file: logged, and the relay goes on with what it has.
    fs.writeFileSync(secretsFile(), '{"adminToken": ', { mode: 0o600 });
    child.kill('SIGHUP');
    await until(() => out.includes('secrets not reloaded'), 'reload refused', 10_000, 50);
    expect(await admin(next)).toBe(200);
    expect(out).not.toContain(next);
    expect(out).not.toContain(sim.secretKey);

    child.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    expect(code).toBe(0);
  });
});

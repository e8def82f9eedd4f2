import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startRig, startTestTerminal, press, waitFor, type Rig, type TestTerminal } from '../terminal/testing/rig';
import { statusCommand } from './device-cli';

/** `qrpos status` against a real terminal daemon's status endpoint (relay and simulator on loopback). */
async function runStatus(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((c) => ((out += String(c)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((c) => ((err += String(c)), true));
  try {
    return { code: await statusCommand.run(args), out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

describe('qrpos status', () => {
  let rig: Rig;
  let t: TestTerminal;
  let configFile: string;
  beforeAll(async () => {
    rig = await startRig();
    t = await startTestTerminal(rig, { credential: await rig.pair('till-status') });
    const address = t.handle.statusAddress ?? '';
    configFile = path.join(t.dir, 'terminal.json');
    fs.writeFileSync(configFile, JSON.stringify({ statusListen: address.replace(/^http:\/\//, ''), dataDir: t.config.dataDir }));
    await waitFor(() => t.handle.status().ready && t.handle.status().link.online, 'ready and online');
  });
  afterAll(async () => {
    await t?.handle.stop();
    await rig?.close();
  });

  it('prints the version, the state, ready and the link, and exits 0 when a sale can start', async () => {
    const r = await runStatus(['--config', configFile]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^version: {3}\S+/m);
    expect(r.out).toContain(`version:   ${t.handle.status().version}`);
    expect(r.out).toMatch(/^ready: {5}yes$/m);
    expect(r.out).toMatch(/^relay: {5}online, paired$/m);
    expect(r.out).toMatch(/^unsynced: {2}0$/m);
  });

  it('shows the sale on screen with its amount; --json gives the endpoint answer as it is', async () => {
    press(t, '2 5 0 0 enter');
    await waitFor(() => t.screenQr(), 'QR on screen', 10_000);
    const r = await runStatus(['--config', configFile]);
    expect(r.out).toMatch(/^sale: {6}#1 THB 25\.00, pending$/m);
    const j = await runStatus(['--config', configFile, '--json']);
    const body = JSON.parse(j.out) as { currentSale: { amount: number }; version: string };
    expect(body.currentSale.amount).toBe(2500);
    expect(body.version).toBe(t.handle.status().version);
  });

  it('no terminal listening: exit 3 with where it asked; no config: a usage error', async () => {
    const dead = path.join(t.dir, 'dead.json');
    fs.writeFileSync(dead, JSON.stringify({ statusListen: path.join(t.dir, 'nobody.sock') }));
    const r = await runStatus(['--config', dead]);
    expect(r.code).toBe(3);
    expect(r.err).toContain('nobody.sock');
    await expect(runStatus(['--config', path.join(t.dir, 'missing.json')])).rejects.toThrow(/not a readable terminal config/);
  });
});

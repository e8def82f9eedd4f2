import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { UsageError } from '../shared/args';
import { OmiseClient } from '../omise/client';
import { command } from './cli';

describe('qrpos sim', () => {
  it('rejects bad flags with a UsageError', async () => {
    await expect(command.run(['--bogus'])).rejects.toBeInstanceOf(UsageError);
    await expect(command.run(['--country', 'US'])).rejects.toThrow(/TH, SG or MY/);
    await expect(command.run(['--port', '70000'])).rejects.toThrow(/--port/);
    await expect(command.run(['--secret-key', 'skey_live_x'])).rejects.toThrow(/skey_test_/);
    await expect(command.run(['--webhook-secret', 'short'])).rejects.toThrow(/base64/);
    await expect(command.run(['--svg-style', 'png'])).rejects.toThrow(/svg-style/);
  });

  it('prints its URL, serves the API with the given keys and stops on SIGTERM', async () => {
    const root = join(__dirname, '..', '..');
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'sim', '--port', '0', '--public-key', 'pkey_test_cli', '--secret-key', 'skey_test_cli', '--country', 'SG'],
      { cwd: root, env: { ...process.env, QRPOS_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const deadline = Date.now() + 15_000;
    while (!/listening on (http:\/\/\S+)/.test(out)) {
      if (Date.now() > deadline) throw new Error(`no URL printed: ${out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const url = /listening on (http:\/\/\S+)/.exec(out)![1];
    const client = new OmiseClient({ baseUrl: url, secretKey: 'skey_test_cli' });
    const ch = await client.createCharge({ amount: 500, currency: 'SGD', source: { type: 'alipayplus_mpm' } });
    expect(ch.currency).toBe('SGD');
    expect(out).toContain('pkey_test_cli');
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});

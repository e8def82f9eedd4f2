import { describe, expect, it } from 'vitest';
import { isSecretField, memoryLogger, redact } from './log';

describe('log redaction by field name', () => {
  it('hides fields whose name has a secret word, in every naming style', () => {
    for (const name of [
      'pin', 'PIN', 'supervisorPin', 'supervisor_pin', 'new-pin', 'secret', 'webhookSecret', 'x-pairing-secret', 'omiseSecretKey',
      'password', 'passwd', 'adminToken', 'access_token', 'credential', 'terminalCredentials', 'authorization', 'Authorization',
      'apiKey', 'api_key', 'API-KEY', 'apikey', 'download_uri', 'downloadUri', 'cookie', 'Set-Cookie', 'options.token',
    ]) {
      expect(isSecretField(name), name).toBe(true);
    }
  });

  it('keeps unrelated fields whose name merely contains a secret word', () => {
    for (const name of [
      'shipping', 'spinner', 'pinned', 'opinion', 'mapping', 'tokenizer', 'secretary', 'keyboard', 'apiVersion', 'download',
      'uri', 'passage', 'cookiecutter', 'checkpoint', 'saleId', 'amount', 'pinch',
    ]) {
      expect(isSecretField(name), name).toBe(false);
    }
  });

  it('redacts values, not structure, and the logger writes nothing secret', () => {
    expect(redact({ shipping: 'EMS', supervisorPin: '4829', nested: { apiKey: 'abc', mapping: [1, 2] } })).toEqual({
      shipping: 'EMS',
      supervisorPin: '[redacted]',
      nested: { apiKey: '[redacted]', mapping: [1, 2] },
    });
    const log = memoryLogger('debug');
    log.info('pin entered', { pin: 482913, shipping: 'post', ok: true, pinOk: false });
    const line = log.lines.join('\n');
    expect(line).not.toContain('482913');
    expect(line).toContain('"shipping":"post"');
    // Booleans say nothing about the secret and stay readable.
    expect(line).toContain('"pinOk":false');
  });

  it('writes log lines with no raw control or bidirectional character, as valid JSON', () => {
    const log = memoryLogger('debug');
    const name = 'till\u001b[2J\r\n\u202eevil\u0085';
    log.warn(`pairing from ${name}`, { name });
    for (const line of log.lines) {
      // eslint-disable-next-line no-control-regex -- matching control characters is the point
      expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202e]/);
      expect(JSON.parse(line)).toMatchObject({ msg: `pairing from ${name}`, name });
    }
  });
});

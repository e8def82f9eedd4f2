/** `qrpos sim`: runs the Omise test-mode simulator until SIGINT/SIGTERM. */
import type { Command } from '../cli/command';
import { waitForStopSignal } from '../shared/service';
import { flagHelp, parseFlags, UsageError, type FlagSpec } from '../shared/args';
import { createLogger } from '../shared/log';
import { isCountry } from '../domain/money';
import { SIMULATOR_DEFAULTS } from './config';
import { startSimulator } from './server';
import { SVG_STYLES, type SvgStyleOption } from './qr-svg';

const FLAGS: Record<string, FlagSpec> = {
  port: { type: 'number', description: 'port to listen on (0 = any free port)', default: SIMULATOR_DEFAULTS.cliPort },
  host: { description: 'address to bind (the dashboard and /_sim routes answer loopback clients only)', default: SIMULATOR_DEFAULTS.host },
  'public-key': { description: 'public key to accept (pkey_test_…); generated when absent' },
  'secret-key': { description: 'secret key to accept (skey_test_…); generated when absent' },
  'webhook-url': { description: 'where to POST events (signed webhooks)' },
  'webhook-secret': { description: 'base64 webhook signing secret; generated when absent' },
  'previous-webhook-secret': { description: 'base64 secret of a rotation in progress: deliveries carry a second signature' },
  country: { description: 'account country: TH, SG or MY', default: SIMULATOR_DEFAULTS.country },
  'state-file': { description: 'keep charges and events across restarts in this file (0600)' },
  'svg-style': { description: `QR SVG structure: rotate, ${SVG_STYLES.join(', ')}`, default: SIMULATOR_DEFAULTS.svgStyle },
  'charge-ttl': { type: 'number', description: 'seconds a charge stays pending without expires_at', default: SIMULATOR_DEFAULTS.chargeTtlMs / 1000 },
  'public-url': { description: 'base URL put in download_uri when clients reach the simulator by another name' },
};

export const command: Command = {
  summary: 'run the Omise test-mode simulator (API, webhooks, dashboard)',
  help: `usage: qrpos sim [flags]

A faithful Omise test-mode API on loopback: sources, charges, expire, refunds/voids, events,
QR documents, signed webhooks, a dashboard at / and fault injection at /_sim/faults.

flags:
${flagHelp(FLAGS)}
`,
  async run(argv: string[]): Promise<number> {
    const { flags } = parseFlags(argv, FLAGS, { positionals: 0 });
    const port = flags.port as number;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0-65535, got ${port}`);
    const country = String(flags.country).toUpperCase();
    if (!isCountry(country)) throw new UsageError(`--country must be TH, SG or MY, got "${String(flags.country)}"`);
    const pkey = flags['public-key'] as string | undefined;
    const skey = flags['secret-key'] as string | undefined;
    if (pkey !== undefined && !/^pkey_test_[A-Za-z0-9]+$/.test(pkey)) throw new UsageError('--public-key must look like pkey_test_…');
    if (skey !== undefined && !/^skey_test_[A-Za-z0-9]+$/.test(skey)) throw new UsageError('--secret-key must look like skey_test_…');
    const webhookUrl = flags['webhook-url'] as string | undefined;
    if (webhookUrl !== undefined && !/^https?:\/\/\S+$/.test(webhookUrl)) throw new UsageError('--webhook-url must be an http(s) URL');
    const webhookSecret = flags['webhook-secret'] as string | undefined;
    if (webhookSecret !== undefined && (!/^[A-Za-z0-9+/]+={0,2}$/.test(webhookSecret) || Buffer.from(webhookSecret, 'base64').length < 16)) {
      throw new UsageError('--webhook-secret must be base64 of at least 16 bytes');
    }
    const previousSecret = flags['previous-webhook-secret'] as string | undefined;
    if (previousSecret !== undefined && (!/^[A-Za-z0-9+/]+={0,2}$/.test(previousSecret) || Buffer.from(previousSecret, 'base64').length < 16)) {
      throw new UsageError('--previous-webhook-secret must be base64 of at least 16 bytes');
    }
    const style = String(flags['svg-style']);
    if (style !== 'rotate' && !(SVG_STYLES as readonly string[]).includes(style)) throw new UsageError(`--svg-style must be rotate or one of ${SVG_STYLES.join(', ')}`);
    const ttl = flags['charge-ttl'] as number;
    if (!(ttl > 0)) throw new UsageError('--charge-ttl must be a positive number of seconds');

    const log = createLogger({ component: 'sim' });
    const sim = await startSimulator({
      host: String(flags.host),
      port,
      publicKey: pkey,
      secretKey: skey,
      webhookUrl: webhookUrl ?? null,
      webhookSecret,
      previousWebhookSecret: previousSecret,
      country,
      stateFile: flags['state-file'] as string | undefined,
      svgStyle: style as SvgStyleOption,
      chargeTtlMs: ttl * 1000,
      publicUrl: flags['public-url'] as string | undefined,
      log,
    });
    // The operator needs the keys to configure a relay; they go to the terminal, not the log.
    const out = [
      `Omise simulator listening on ${sim.url}`,
      `dashboard:      ${sim.url}/`,
      `country:        ${country}`,
      `public key:     ${sim.publicKey}${pkey ? '' : ' (generated)'}`,
      `secret key:     ${sim.secretKey}${skey ? '' : ' (generated)'}`,
      webhookUrl ? `webhook:        ${webhookUrl}` : 'webhook:        none (set --webhook-url)',
      webhookSecret ? '' : `webhook secret: ${sim.webhookSecret} (generated)`,
    ].filter((l) => l !== '');
    process.stdout.write(out.join('\n') + '\n');

    await waitForStopSignal();
    await sim.stop();
    return 0;
  },
};

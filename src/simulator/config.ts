/**
 * The simulator's defaults, each stated once: `qrpos sim`'s flags (./cli.ts) and
 * startSimulator() (./server.ts) both read them from here.
 */
import type { Country } from '../domain/money';
import type { SvgStyleOption } from './qr-svg';

export const SIMULATOR_DEFAULTS: {
  readonly host: string;
  /** The port `qrpos sim` listens on; startSimulator() without a port picks a free one (0). */
  readonly cliPort: number;
  readonly port: number;
  readonly country: Country;
  readonly svgStyle: SvgStyleOption;
  /** How long a charge stays pending when the request names no expires_at. */
  readonly chargeTtlMs: number;
  /** Delays before webhook retries. */
  readonly webhookRetryDelaysMs: readonly number[];
  readonly webhookTimeoutMs: number;
  /** Largest request body accepted. */
  readonly bodyLimitBytes: number;
  /** How often pending charges are checked for expiry. */
  readonly expirySweepMs: number;
} = {
  host: '127.0.0.1',
  cliPort: 4010,
  port: 0,
  country: 'TH',
  svgStyle: 'rotate',
  chargeTtlMs: 24 * 3600_000,
  webhookRetryDelaysMs: [1000, 5000, 30_000, 120_000, 600_000],
  webhookTimeoutMs: 10_000,
  bodyLimitBytes: 64 * 1024,
  expirySweepMs: 1000,
};

/**
 * The terminal's config file (JSON): one zod schema, and a loader whose errors name each wrong
 * field and what was expected, so the error screen and the log can list them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { DriversConfigSchema, type DriversConfig } from '../../drivers/config';
import { countryOf, COUNTRIES, CURRENCIES, type Country } from '../domain/money';
import { COUNTRY_TIME_ZONE, isTimeZone } from '../domain/time';
import { JsonTextError, parseJsonText } from '../shared/json-text';
import { isLoopbackHost } from '../shared/loopback';

const httpUrl = z
  .string()
  .refine((s) => {
    try {
      const u = new URL(s);
      return u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      return false;
    }
  }, 'expected an http:// or https:// URL');

/**
 * Defaults that code outside the schema also needs (the supervisor before a config has loaded,
 * the upgrade reading a config as plain JSON): stated here once, used by the schema below.
 */
export const DEFAULT_STATUS_LISTEN = '127.0.0.1:7601';
export const DEFAULT_DATA_DIR = '/var/lib/qrpos';

export const SaleConfigSchema = z.object({
  entryMode: z.enum(['implied-decimals', 'decimal-point', 'whole-units']).default('implied-decimals'),
  qrTimeoutSeconds: z.number().int().min(15).max(900).default(120),
  resultSeconds: z.number().int().min(1).max(120).default(8),
});

export const LinkConfigSchema = z.object({
  heartbeatMs: z.number().int().min(200).max(120_000).default(15_000),
  requestTimeoutMs: z.number().int().min(200).max(120_000).default(10_000),
});

export const TerminalConfigSchema = z
  .object({
    version: z.literal(1),
    relayUrl: httpUrl,
    merchantName: z.string().min(1).max(64),
    currency: z.enum(CURRENCIES),
    /**
     * The shop's country: picks the customer languages and the wallets listed on the QR screen.
     * Absent: the currency's country (THB → TH, SGD → SG, MYR → MY); present, it must agree.
     */
    country: z.enum(COUNTRIES).optional(),
    /** The shop's time zone (IANA, e.g. "Asia/Bangkok") for the clock, receipts and business days. Absent: the system's. */
    timeZone: z
      .string()
      .refine(isTimeZone, 'expected an IANA time zone name such as "Asia/Bangkok", "Asia/Singapore" or "Asia/Kuala_Lumpur"')
      .optional(),
    /** Local hour (0–23) at which a business day starts: 0 = midnight, 4 = a day that runs until 04:00. */
    businessDayStartHour: z.number().int().min(0).max(23).default(0),
    terminalName: z.string().min(1).max(64).optional(),
    dataDir: z.string().min(1).default(DEFAULT_DATA_DIR),
    secretsFile: z.string().min(1).default('/etc/qrpos/terminal.secrets.json'),
    statusListen: z.string().min(1).default(DEFAULT_STATUS_LISTEN),
    // Absent sections are read as {}: each field's own default above applies, stated once.
    sale: SaleConfigSchema.prefault({}),
    link: LinkConfigSchema.prefault({}),
    /** A device profile in device/profiles/<name>.json whose `drivers` apply when `drivers` is absent. */
    profile: z.string().regex(/^[A-Za-z0-9._-]+$/, 'expected a profile name such as "pi4-hdmi-usbkeypad"').optional(),
    drivers: DriversConfigSchema.optional(),
    /** Talk to a relay on another host over plain http:// (credentials in clear): only for a lab. */
    allowPlainHttp: z.boolean().default(false),
    /**
     * Fleet updates: ask the relay every `checkMs` which release to run; download it over the link
     * into <dataDir>/upgrades and hand it to qrpos-upgrade.path when no sale is on screen.
     */
    updates: z
      .object({
        enabled: z.boolean().default(true),
        checkMs: z.number().int().min(10_000).max(86_400_000).default(300_000),
        /** How long the counter must be untouched (no key, no sale) before a download starts or goes on. */
        quietMs: z.number().int().min(1_000).max(3_600_000).default(30_000),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.country !== undefined && c.country !== countryOf(c.currency)) {
      ctx.addIssue({
        code: 'custom',
        path: ['country'],
        message: `${c.country} does not match currency ${c.currency} (the currency of ${countryOf(c.currency)}): set country to ${countryOf(c.currency)} or leave it out`,
      });
    }
    const u = URL.canParse(c.relayUrl) ? new URL(c.relayUrl) : null;
    if (u?.protocol === 'http:' && !c.allowPlainHttp && !isLoopbackHost(u.hostname)) {
      ctx.addIssue({
        code: 'custom',
        path: ['relayUrl'],
        message: 'must be https:// for a relay on another host: plain http:// would send the terminal credential in clear (or set allowPlainHttp: true)',
      });
    }
  });

export type TerminalConfigInput = z.input<typeof TerminalConfigSchema>;
/** The validated config, with `country` and `timeZone` resolved (never absent). */
export type TerminalConfig = Omit<z.infer<typeof TerminalConfigSchema>, 'drivers' | 'country' | 'timeZone'> & {
  drivers: DriversConfig;
  country: Country;
  timeZone: string;
};

export interface ConfigProblem {
  field: string;
  message: string;
}

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: ConfigProblem[],
  ) {
    super(`invalid config ${file}: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`);
    this.name = 'ConfigError';
  }
}

function problemsOf(err: z.ZodError, prefix = ''): ConfigProblem[] {
  return err.issues.map((i) => ({
    field: prefix + (i.path.length ? i.path.map(String).join('.') : '(file)'),
    message: i.message,
  }));
}

/** Where device profiles live: <repo>/device/profiles, found relative to this file (src or dist). */
export function defaultProfileDirs(): string[] {
  const dirs: string[] = [];
  if (process.env.QRPOS_PROFILE_DIR) dirs.push(process.env.QRPOS_PROFILE_DIR);
  for (const up of ['../../device/profiles', '../../../device/profiles']) dirs.push(path.resolve(__dirname, up));
  dirs.push('/usr/share/qrpos/device/profiles', '/opt/qrpos/device/profiles');
  return dirs;
}

/** Validate an already-parsed object. Throws ConfigError listing every problem. */
export function parseTerminalConfig(raw: unknown, file = '(config)', profileDirs = defaultProfileDirs()): TerminalConfig {
  const res = TerminalConfigSchema.safeParse(raw);
  if (!res.success) throw new ConfigError(file, problemsOf(res.error));
  const cfg = { ...res.data, country: res.data.country ?? countryOf(res.data.currency), timeZone: res.data.timeZone ?? COUNTRY_TIME_ZONE[res.data.country ?? countryOf(res.data.currency)] };
  if (cfg.drivers) return { ...cfg, drivers: cfg.drivers };
  if (!cfg.profile) throw new ConfigError(file, [{ field: 'drivers', message: 'expected a drivers section or a profile name' }]);
  const profileFile = profileDirs.map((d) => path.join(d, `${cfg.profile}.json`)).find((f) => fs.existsSync(f));
  if (!profileFile) {
    throw new ConfigError(file, [{ field: 'profile', message: `no device profile "${cfg.profile}" in ${profileDirs.join(', ')}` }]);
  }
  let profile: unknown;
  try {
    profile = JSON.parse(fs.readFileSync(profileFile, 'utf8'));
  } catch (err) {
    throw new ConfigError(file, [{ field: 'profile', message: `${profileFile} is not valid JSON: ${(err as Error).message}` }]);
  }
  const drivers = DriversConfigSchema.safeParse((profile as { drivers?: unknown } | null)?.drivers);
  if (!drivers.success) throw new ConfigError(file, problemsOf(drivers.error, `profile ${cfg.profile}: drivers.`));
  return { ...cfg, drivers: drivers.data };
}

/** Read and validate the config file. Throws ConfigError (never a bare JSON or fs error). */
export function loadTerminalConfig(file: string, profileDirs?: string[]): TerminalConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [{ field: '(file)', message: `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` }]);
  }
  let raw: unknown;
  try {
    // Takes a byte-order mark; the error gives line and column and never quotes the text.
    raw = parseJsonText(text);
  } catch (err) {
    if (!(err instanceof JsonTextError)) throw err;
    throw new ConfigError(file, [{ field: '(file)', message: err.message }]);
  }
  return parseTerminalConfig(raw, file, profileDirs);
}

/** Where fleet updates are downloaded to and handed to the upgrader (see updates.ts). */
export function upgradeSpoolDir(cfg: Pick<TerminalConfig, 'dataDir'>): string {
  return path.join(cfg.dataDir, 'upgrades');
}

export function journalPath(cfg: Pick<TerminalConfig, 'dataDir'>): string {
  return path.join(cfg.dataDir, 'journal.sqlite');
}

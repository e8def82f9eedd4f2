/**
 * The relay's configuration: one JSON file validated by one schema (types derived from it),
 * and a separate secrets file that must be private to its owner (mode 0600). Every secret can
 * instead come from the environment, which wins over the file (systemd credentials, CI).
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { JsonTextError, parseJsonText } from '../shared/json-text';
import { isPublishedSecret, PUBLISHED_SECRET_MESSAGE } from '../shared/published-secrets';
import { isLoopbackHost } from '../shared/loopback';
import { parseCidr } from './rate-limit';
import { COUNTRIES } from '../domain/money';
import { DEFAULT_METHOD, methodName, methodWorksIn, PAYMENT_METHODS, type PaymentMethod } from '../domain/methods';
import { canonicalTimeZone } from '../domain/time';

const PortSchema = z.number().int().min(0).max(65535);
/** postgres:// or postgresql:// (checked without ever putting the URL in a message). */
function isPostgresUrl(s: string): boolean {
  return /^postgres(ql)?:\/\/./.test(s);
}
const MethodList = z
  .array(z.enum(PAYMENT_METHODS))
  .min(1)
  .refine((l) => new Set(l).size === l.length, 'lists a method twice');
const Ms = (def: number, min = 1) => z.number().int().min(min).default(def);

/** Every default is written once, on its field: a section left out is read as {} (`.prefault({})`). */
export const RelayConfigSchema = z
  .object({
    version: z.literal(1),
    listen: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: PortSchema.default(8787),
      })
      .strict()
      .prefault({}),
    /** The URL terminals and Omise use to reach this relay (behind a reverse proxy it differs from listen). */
    publicUrl: z.url().optional(),
    /**
     * Which peers may name the client's address in X-Forwarded-For: false none, true loopback
     * only (a reverse proxy on this host), or a list of proxy addresses and CIDRs.
     */
    trustProxy: z
      .union([
        z.boolean(),
        z
          .array(
            z.string().superRefine((v, ctx) => {
              try {
                parseCidr(v);
              } catch (err) {
                ctx.addIssue({ code: 'custom', message: (err as Error).message });
              }
            }),
          )
          .max(64),
      ])
      .default(false),
    tls: z.object({ certFile: z.string().min(1), keyFile: z.string().min(1) }).strict().optional(),
    country: z.enum(COUNTRIES),
    omise: z
      .object({
        baseUrl: z.url().default('https://api.omise.co'),
        timeoutMs: Ms(10_000, 100),
      })
      .strict()
      .prefault({}),
    /** Directory for the SQLite database (relay.db, with its WAL files) and release bundles. */
    dataDir: z.string().min(1),
    /**
     * Where the relay keeps its data: `sqlite` (the default: relay.db in dataDir), or `postgres`
     * with the URL from the secrets file's `storeUrl` or QRPOS_STORE_URL (it holds a password), or
     * a postgres:// URL written here (then this file must be as private as the secrets file).
     */
    store: z
      .string()
      .refine((s) => s === 'sqlite' || s === 'postgres' || isPostgresUrl(s), 'sqlite, postgres, or a postgres:// or postgresql:// URL')
      .optional(),
    /**
     * SQLite only. true: writes are made durable in a small redo log beside relay.db, and relay.db
     * itself is committed when the relay has been idle for a moment, or once a second under load
     * (about a seventh of the disk writes per webhook). Other programs reading relay.db (`qrpos relay
     * report`) see it as of that commit. false (the default): every group commit waits for relay.db.
     */
    sqliteRedoLog: z.boolean().default(false),
    /** Path of the 0600 JSON secrets file; relative paths are resolved against the config file. */
    secretsFile: z.string().min(1).optional(),
    heartbeatMs: Ms(15_000, 50),
    /** A non-final sale older than this is refreshed from Omise when a terminal asks for it. */
    statusStaleMs: Ms(5_000, 0),
    reconcile: z
      .object({
        intervalMs: Ms(30_000, 50),
        /** A pending charge without a webhook for this long is polled from Omise. */
        webhookOverdueMs: Ms(60_000, 0),
      })
      .strict()
      .prefault({}),
    limits: z
      .object({
        /** Largest JSON body a terminal may send (record batches are the big ones). */
        bodyBytes: z.number().int().min(1024).default(1_048_576),
        /** Largest webhook body accepted from Omise (413 above). */
        webhookBodyBytes: z.number().int().min(1024).default(262_144),
        /** Pairing requests waiting for an operator at once; above, the busiest address's oldest code is dropped. */
        maxPendingPairings: z.number().int().min(1).default(100),
      })
      .strict()
      .prefault({}),
    pairing: z
      .object({
        /** How long a pairing code stays valid for the operator to approve. */
        codeTtlMs: Ms(15 * 60_000, 1000),
        /** Pairing requests one address (IPv4, or IPv6 /64) may make at once, then `perAddressPerMinute`. */
        perAddressBurst: z.number().int().min(1).default(10),
        perAddressPerMinute: z.number().min(0.01).default(1),
        /** All addresses together: above this a request waits (429, Retry-After), pairing never closes. */
        globalBurst: z.number().int().min(1).default(60),
        globalPerMinute: z.number().min(0.01).default(60),
        /** Codes one address may have waiting for the operator at once. */
        maxPendingPerAddress: z.number().int().min(1).default(5),
      })
      .strict()
      .prefault({}),
    /**
     * The payment methods terminals offer, in the order their keys show them: `enabled` for the
     * shop, `terminals` for one terminal (by id or by name) where it differs. Each must work in
     * `country` (src/domain/methods.ts).
     */
    methods: z
      .object({
        enabled: MethodList.default([DEFAULT_METHOD]),
        terminals: z.record(z.string().min(1).max(64), MethodList).default({}),
      })
      .strict()
      .prefault({}),
    /** How long stop() waits for open requests before cutting them. */
    shutdownGraceMs: Ms(5_000, 0),
    /**
     * Serve plain HTTP on a non-loopback address. Off: without `tls` the relay listens on loopback
     * only, behind a reverse proxy that terminates TLS; terminals and Omise never talk to it in clear.
     */
    allowPlainHttp: z.boolean().default(false),
    /**
     * The shop's time zone (IANA name) for end-of-day reports; default: the country's (TH
     * Asia/Bangkok, SG Asia/Singapore, MY Asia/Kuala_Lumpur), never the relay host's.
     */
    timeZone: z
      .string()
      .refine((name) => canonicalTimeZone(name) !== null, 'not a time zone this system knows: an IANA name such as "Asia/Bangkok"')
      .optional(),
    /** The hour (shop time, 0–23) a business day starts: 4 means a day runs 04:00–04:00. */
    businessDayStartHour: z.number().int().min(0).max(23).default(0),
    /** Fleet updates: release bundles uploaded with `qrpos relay releases add`, kept in <dataDir>/releases. */
    releases: z
      .object({
        /**
         * Where the bundles are kept (default <dataDir>/releases). Several relays on one PostgreSQL
         * store share one folder (a network file system): a bundle added through one of them is
         * downloaded from whichever one a terminal is connected to.
         */
        dir: z.string().min(1).optional(),
        /**
         * The public keys a bundle's signature must verify with before the relay accepts it (the
         * format of scripts/release/release-key.pub; absent: that file of the running release).
         */
        keysFile: z.string().min(1).optional(),
        /** Largest bundle an upload may send (413 above). */
        maxBundleBytes: z.number().int().min(1024).default(256 * 1024 * 1024),
        /**
         * Versions kept on the relay: after an upload (and at start) the bundles of older versions
         * are deleted, except any version a live rollout still targets.
         */
        keep: z.number().int().min(1).max(1000).default(5),
        /**
         * Serve each bundle download at most this fast (bytes per second; absent: as fast as the
         * network goes), so that terminals fetching an update leave the shop's uplink to sales.
         */
        downloadBytesPerSecond: z.number().int().min(1024).optional(),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (!c.tls && !c.allowPlainHttp && !isLoopbackHost(c.listen.host)) {
      ctx.addIssue({
        code: 'custom',
        path: ['listen', 'host'],
        message: `plain HTTP on ${c.listen.host} would carry credentials in clear: configure tls, or listen on 127.0.0.1 behind a TLS reverse proxy (or set allowPlainHttp: true)`,
      });
    }
    const lists: [string[], PaymentMethod[]][] = [[['methods', 'enabled'], c.methods.enabled], ...Object.entries(c.methods.terminals).map(([k, l]): [string[], PaymentMethod[]] => [['methods', 'terminals', k], l])];
    for (const [path, list] of lists) {
      for (const m of list) {
        if (!methodWorksIn(m, c.country)) ctx.addIssue({ code: 'custom', path, message: `${m} (${methodName(m)}) is not offered in ${c.country}` });
      }
    }
    const pub = c.publicUrl && URL.canParse(c.publicUrl) ? new URL(c.publicUrl) : null;
    if (pub?.protocol === 'http:' && !c.allowPlainHttp && !isLoopbackHost(pub.hostname)) {
      ctx.addIssue({ code: 'custom', path: ['publicUrl'], message: 'must be https:// (or set allowPlainHttp: true)' });
    }
  });

export type RelayConfig = z.infer<typeof RelayConfigSchema>;

/** The methods a terminal may charge with: its own list (matched by id, then by name), else the shop's. */
export function methodsOfTerminal(methods: RelayConfig['methods'], terminal: { id: string; name: string }): PaymentMethod[] {
  return methods.terminals[terminal.id] ?? methods.terminals[terminal.name] ?? methods.enabled;
}
export type RelayConfigInput = z.input<typeof RelayConfigSchema>;

/** Any secret: never one of the example values published with qrpos. */
const Secret = z.string().refine((s) => !isPublishedSecret(s), PUBLISHED_SECRET_MESSAGE);
const Base64Secret = Secret.refine(
  (s) => s.length >= 16 && /^[A-Za-z0-9+/]+={0,2}$/.test(s) && Buffer.from(s, 'base64').length >= 16,
  'a base64 string of at least 16 bytes',
);
/** 32 characters and 12 different ones: `setup.sh --relay` makes one from 24 random bytes. */
const AdminToken = Secret.refine((s) => s.length >= 32 && new Set(s).size >= 12, 'at least 32 characters, at least 12 of them different (e.g. openssl rand -base64 24)');

export const RelaySecretsSchema = z
  .object({
    omisePublicKey: Secret.refine((s) => s.startsWith('pkey_'), 'an Omise public key (pkey_…)').optional(),
    omiseSecretKey: Secret.refine((s) => s.startsWith('skey_'), 'an Omise secret key (skey_…)'),
    /** The webhook secret from the Omise dashboard, base64 as shown there. */
    webhookSecret: Base64Secret,
    /** The one before a rotation; webhooks signed with either are accepted. */
    previousWebhookSecret: Base64Secret.optional(),
    adminToken: AdminToken,
    /** The PostgreSQL store's URL (postgres://user:password@host:port/database), for `store: "postgres"`. */
    storeUrl: Secret.refine(isPostgresUrl, 'a postgres:// or postgresql:// URL').optional(),
  })
  .strict();
export type RelaySecrets = z.infer<typeof RelaySecretsSchema>;

/** Environment variables that override the secrets file, field by field. */
export const SECRET_ENV: Record<keyof RelaySecrets, string> = {
  omisePublicKey: 'QRPOS_OMISE_PUBLIC_KEY',
  omiseSecretKey: 'QRPOS_OMISE_SECRET_KEY',
  webhookSecret: 'QRPOS_WEBHOOK_SECRET',
  previousWebhookSecret: 'QRPOS_PREVIOUS_WEBHOOK_SECRET',
  adminToken: 'QRPOS_ADMIN_TOKEN',
  storeUrl: 'QRPOS_STORE_URL',
};

/** Where the relay's store is: the SQLite file in dataDir, or a PostgreSQL URL (a secret). */
export type StoreLocation = { kind: 'sqlite'; dataDir: string } | { kind: 'postgres'; url: string };

/**
 * Picks the store from the config's `store` and the secrets' `storeUrl` (file or QRPOS_STORE_URL).
 * Errors never contain the URL.
 */
export function storeLocation(config: Pick<RelayConfig, 'store' | 'dataDir'>, secrets?: Pick<RelaySecrets, 'storeUrl'>): StoreLocation {
  const setting = config.store ?? 'sqlite';
  if (setting === 'sqlite') return { kind: 'sqlite', dataDir: config.dataDir };
  if (setting === 'postgres') {
    if (!secrets?.storeUrl) {
      throw new ConfigError(`store is "postgres" but no URL was given: set storeUrl in the secrets file or ${SECRET_ENV.storeUrl}`);
    }
    return { kind: 'postgres', url: secrets.storeUrl };
  }
  // A URL in the config file; one among the secrets (file or environment) wins.
  return { kind: 'postgres', url: secrets?.storeUrl ?? setting };
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * "listen.port: expected a number, got string" — one line per problem; never echoes values. With
 * `hideUnknownNames` (a secrets file) unknown field names are counted, not shown: a key pasted
 * where a field name belongs would otherwise be printed.
 */
export function describeIssues(error: z.ZodError, where: string, hideUnknownNames = false): string {
  const lines = error.issues.map((i) => {
    const field = i.path.length ? i.path.map(String).join('.') : '(top level)';
    if (hideUnknownNames && i.code === 'unrecognized_keys') {
      return `  ${field}: ${i.keys.length} unknown field(s), names not shown; the fields are ${Object.keys(SECRET_ENV).join(', ')}`;
    }
    return `  ${field}: ${i.message}`;
  });
  return `${where} is invalid:\n${lines.join('\n')}`;
}

function readJson(file: string, what: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  try {
    return parseJsonText(text);
  } catch (err) {
    // Only the place and the kind of mistake: the parser's own message quotes the text, which may be a key.
    if (err instanceof JsonTextError) throw new ConfigError(`${what} ${file} is ${err.message}`);
    throw err;
  }
}

export function parseRelayConfig(value: unknown, where = 'relay config'): RelayConfig {
  const r = RelayConfigSchema.safeParse(value);
  if (!r.success) throw new ConfigError(describeIssues(r.error, where));
  return r.data;
}

/** Loads and validates the config; relative paths in it are resolved against the file's directory. */
export function loadRelayConfig(file: string): RelayConfig {
  const cfg = parseRelayConfig(readJson(file, 'relay config'), file);
  const dir = path.dirname(path.resolve(file));
  const abs = (p: string) => (path.isAbsolute(p) ? p : path.resolve(dir, p));
  return {
    ...cfg,
    dataDir: abs(cfg.dataDir),
    ...(cfg.secretsFile ? { secretsFile: abs(cfg.secretsFile) } : {}),
    ...(cfg.tls ? { tls: { certFile: abs(cfg.tls.certFile), keyFile: abs(cfg.tls.keyFile) } } : {}),
    releases: { ...cfg.releases, ...(cfg.releases.keysFile ? { keysFile: abs(cfg.releases.keysFile) } : {}), ...(cfg.releases.dir ? { dir: abs(cfg.releases.dir) } : {}) },
  };
}

/**
 * Reads the secrets file (if any) and the environment. A secrets file readable by group or
 * others is refused: it holds the Omise secret key.
 */
export function loadRelaySecrets(file: string | undefined, env: NodeJS.ProcessEnv = process.env): RelaySecrets {
  let fromFile: Record<string, unknown> = {};
  if (file) {
    let st: fs.Stats;
    try {
      st = fs.statSync(file);
    } catch (err) {
      throw new ConfigError(`cannot read secrets file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    if ((st.mode & 0o077) !== 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
      throw new ConfigError(`secrets file ${file} has mode ${mode}; it must be readable by its owner only: chmod 600 ${file}`);
    }
    const raw = readJson(file, 'secrets file');
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`secrets file ${file} must hold a JSON object`);
    fromFile = raw as Record<string, unknown>;
  }
  const merged: Record<string, unknown> = { ...fromFile };
  for (const [field, name] of Object.entries(SECRET_ENV)) {
    const v = env[name];
    if (v !== undefined && v !== '') merged[field] = v;
  }
  const r = RelaySecretsSchema.safeParse(merged);
  if (!r.success) {
    const where = file ? `secrets (file ${file} and environment)` : 'secrets (environment; no secretsFile configured)';
    const text = describeIssues(r.error, where, true);
    const hints = r.error.issues
      .map((i) => String(i.path[0] ?? ''))
      .filter((f): f is keyof RelaySecrets => f in SECRET_ENV)
      .map((f) => `  (${f} can also be set with ${SECRET_ENV[f]})`);
    throw new ConfigError([text, ...new Set(hints)].join('\n'));
  }
  return r.data;
}

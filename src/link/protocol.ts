/**
 * The terminal ↔ relay link: the one contract both programs share.
 *
 * The terminal sits behind NAT, so every connection is outbound from it:
 *  - HTTP requests (JSON) for commands, authenticated with `Authorization: Bearer <credential>`;
 *  - one WebSocket, `GET /v1/stream?after=<seq>` with the same header, on which the relay pushes
 *    events with a per-terminal sequence number and the terminal acknowledges them.
 *
 * All commands are idempotent: a retried request with the same ids changes nothing twice and
 * returns the same answer. Errors are `{ error: { code, message } }` with a 4xx/5xx status.
 *
 * HTTP endpoints (relay side), all JSON:
 *   POST /v1/pair                        PairRequest      → PairStarted        (no auth)
 *   GET  /v1/pair/:pairingId             header `x-pairing-secret: <secret>` → PairPoll (no auth)
 *   GET  /v1/me                          → TerminalInfo
 *   POST /v1/sales                       CreateSaleRequest → SaleView   (idempotent on saleId)
 *   GET  /v1/sales/:saleId               → SaleView  (refreshed from Omise when not final and stale)
 *   POST /v1/sales/:saleId/expire        → SaleView  (idempotent; a paid sale stays paid)
 *   POST /v1/sales/:saleId/refunds       RefundRequest → RefundView (idempotent on refundId)
 *   GET  /v1/sales?since=<iso>&limit=<n> → { sales: SaleView[] }   (reconciliation: the relay's view)
 *   POST /v1/records                     RecordBatch → { accepted: number, duplicates: number }
 *   GET  /v1/stream?after=<seq>          WebSocket upgrade (see StreamMessage)
 *   GET  /v1/release?arch=<arch>         → ReleaseOffer  (the release the operator rolled out to this terminal, or none)
 *   GET  /v1/release/:version/bundle?arch=<arch>  → the signed bundle's bytes (404 unless offered to this terminal)
 *   POST /v1/release/report              ReleaseReport → { recorded: true }  (the outcome of an upgrade)
 */
import { z } from 'zod';
import { CURRENCIES } from '../domain/money';
import { DEFAULT_METHOD, PAYMENT_METHODS } from '../domain/methods';
import { SALE_STATUSES, type SaleStatus } from '../domain/status';
import { hasUnsafeChars } from '../shared/printable';

export const PROTOCOL_VERSION = 1;

export const CurrencySchema = z.enum(CURRENCIES);
/** An Omise source type qrpos charges with (src/domain/methods.ts). */
export const PaymentMethodSchema = z.enum(PAYMENT_METHODS);
/** Sale ids are made by the terminal: ULID-like, 8–64 chars of [A-Za-z0-9_-]. */
export const SaleIdSchema = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/);

/** Text a terminal or an operator supplies that is later printed: bounded, and no control characters. */
export function displayText(max: number, min = 0) {
  return z.string().min(min).max(max).refine((s) => !hasUnsafeChars(s), 'must not contain control characters');
}
/** A terminal's name, as suggested at pairing or given by the operator. */
export const TerminalNameSchema = displayText(64, 1);

export const PairRequestSchema = z.object({
  /** Suggested name, e.g. the hostname; the operator can rename. */
  name: TerminalNameSchema,
  version: displayText(32),
  /** Free-form hardware description (board, display, keypad). */
  device: displayText(200).optional(),
  /**
   * The credential this device held before (revoked or not), as proof that it is the same
   * device: once approved, the new terminal replaces the old one and answers for its sales.
   */
  previousCredential: z.string().max(200).optional(),
});
export type PairRequest = z.infer<typeof PairRequestSchema>;

/** How the relay words its 401 to a revoked terminal's credential (the terminal then says so on screen). */
export const REVOKED_MESSAGE = 'this terminal was revoked by the operator';

export const PairStartedSchema = z.object({
  pairingId: z.string(),
  /** Short code the terminal shows; the operator approves it (`qrpos relay terminals approve <code>`). */
  code: z.string(),
  /** Only the terminal knows it: it must present it to collect the credential. */
  pairingSecret: z.string(),
  expiresAt: z.string(),
});
export type PairStarted = z.infer<typeof PairStartedSchema>;

export const PairPollSchema = z.discriminatedUnion('status', [
  z.object({ status: z.literal('pending'), expiresAt: z.string() }),
  z.object({ status: z.literal('expired') }),
  z.object({ status: z.literal('rejected') }),
  /** Returned once; the relay keeps only a hash of the credential. */
  z.object({ status: z.literal('approved'), terminalId: z.string(), credential: z.string(), name: z.string() }),
]);
export type PairPoll = z.infer<typeof PairPollSchema>;

export const TerminalInfoSchema = z.object({
  terminalId: z.string(),
  name: z.string(),
  /** The merchant's country/currency as the relay is configured. */
  currency: CurrencySchema,
  serverTime: z.string(),
  /** The highest receipt reference this terminal's synced records name (a recovered journal continues above it). */
  highestRef: z.number().int().nonnegative().optional(),
});
export type TerminalInfo = z.infer<typeof TerminalInfoSchema>;

/** A time a terminal reports: ISO 8601, and within years a till can plausibly be in. */
export const ClientTimeSchema = z
  .string()
  .max(40)
  .refine((s) => {
    const t = Date.parse(s);
    return /^\d{4}-\d{2}-\d{2}T/.test(s) && t >= Date.UTC(2000, 0, 1) && t < Date.UTC(2200, 0, 1);
  }, 'an ISO 8601 time (e.g. 2026-12-06T10:00:00Z) between 2000 and 2200');
/** Money in the smallest unit: a whole number; the per-currency limits are checked after this. */
const AmountSchema = z.number().int().positive().max(1e12);

export const CreateSaleRequestSchema = z.object({
  saleId: SaleIdSchema,
  amount: AmountSchema,
  currency: CurrencySchema,
  /** How the customer pays; terminals from before there were several send none (Alipay+). */
  method: PaymentMethodSchema.default(DEFAULT_METHOD),
  /** When the cashier pressed Enter (terminal clock), for the books. */
  createdAt: ClientTimeSchema.optional(),
  description: displayText(255).optional(),
});
export type CreateSaleRequest = z.infer<typeof CreateSaleRequestSchema>;

/**
 * creating: the relay recorded the sale and is talking to Omise (or retrying after a timeout);
 * create_failed: Omise refused the charge (final; no charge exists);
 * the rest are Omise charge statuses. The list, which are final and which moves are allowed live
 * in src/domain/status.ts.
 */
export const SaleStatusSchema = z.enum(SALE_STATUSES);
export type { SaleStatus };

export const RefundViewSchema = z.object({
  refundId: z.string(),
  saleId: SaleIdSchema,
  omiseRefundId: z.string().nullable(),
  amount: z.number().int().positive(),
  currency: CurrencySchema,
  voided: z.boolean(),
  status: z.enum(['pending', 'done', 'failed']),
  reason: z.string().nullable(),
  error: z.string().nullable(),
  createdAt: z.string(),
});
export type RefundView = z.infer<typeof RefundViewSchema>;

export const SaleViewSchema = z.object({
  saleId: SaleIdSchema,
  terminalId: z.string(),
  /** Absent from relays older than several methods (then it is Alipay+). */
  method: PaymentMethodSchema.optional(),
  amount: z.number().int(),
  currency: CurrencySchema,
  status: SaleStatusSchema,
  chargeId: z.string().nullable(),
  /** The QR text decoded from Omise's document (an https URL for Alipay+), and the document itself. */
  qr: z.object({ text: z.string(), svg: z.string() }).nullable(),
  failureCode: z.string().nullable(),
  failureMessage: z.string().nullable(),
  /** Error from Omise when status is create_failed (e.g. invalid_charge). */
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  chargeExpiresAt: z.string().nullable(),
  /** When Omise created the charge, on Omise's clock: the sale's day in reports (absent from older relays). */
  chargeCreatedAt: z.string().nullable().optional(),
  paidAt: z.string().nullable(),
  /** The terminal asked for the charge to be expired (cancel / timeout). */
  expireRequested: z.boolean(),
  refundedAmount: z.number().int(),
  /** Whether a void is still possible now (before 16:15 UTC on the charge's day). */
  canVoid: z.boolean(),
  refunds: z.array(RefundViewSchema),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type SaleView = z.infer<typeof SaleViewSchema>;

export const RefundRequestSchema = z.object({
  /** Made by the terminal; a retry with the same id returns the same refund. */
  refundId: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/),
  amount: AmountSchema,
  reason: displayText(255).optional(),
  /** 'void' requires the void window; 'refund' works within one year; 'auto' picks void when allowed. */
  mode: z.enum(['auto', 'void', 'refund']).default('auto'),
});
export type RefundRequest = z.infer<typeof RefundRequestSchema>;

export const JournalRecordSchema = z.object({
  /** Unique per terminal; uploading the same id twice is a no-op. */
  recordId: z.string().min(1).max(80),
  saleId: z.string().max(64).nullable(),
  kind: z.string().max(40),
  at: ClientTimeSchema,
  data: z.record(z.string(), z.unknown()),
});
export type JournalRecord = z.infer<typeof JournalRecordSchema>;
export const RecordBatchSchema = z.object({ records: z.array(JournalRecordSchema).max(500) });
export type RecordBatch = z.infer<typeof RecordBatchSchema>;

/** What the relay pushes. */
export const RelayEventSchema = z.discriminatedUnion('kind', [
  /** A sale's status changed (webhook or reconciler); carries the full current view. */
  z.object({ kind: z.literal('sale.updated'), sale: SaleViewSchema }),
  /** A refund or void finished (or failed). */
  z.object({ kind: z.literal('refund.updated'), refund: RefundViewSchema }),
  /** The operator revoked or renamed this terminal. */
  z.object({ kind: z.literal('terminal.updated'), name: z.string(), revoked: z.boolean() }),
]);
export type RelayEvent = z.infer<typeof RelayEventSchema>;

/** Relay → terminal WebSocket messages (JSON text frames). */
export const ServerMessageSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('hello'),
    terminalId: z.string(),
    lastSeq: z.number().int(),
    heartbeatMs: z.number().int(),
    serverTime: z.string(),
    /** The payment methods the relay's operator enabled for this terminal, in the order to offer them (absent: older relay, Alipay+ only). */
    methods: z.array(PaymentMethodSchema).min(1).optional(),
  }),
  z.object({ type: z.literal('event'), seq: z.number().int().positive(), at: z.string(), event: RelayEventSchema }),
  z.object({ type: z.literal('ping'), at: z.string() }),
  z.object({ type: z.literal('pong'), at: z.string() }),
]);
export type ServerMessage = z.infer<typeof ServerMessageSchema>;

/** Terminal → relay WebSocket messages. Acks are cumulative: everything ≤ seq is done. */
export const ClientMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ack'), seq: z.number().int().nonnegative() }),
  z.object({ type: z.literal('ping'), at: z.string() }),
  z.object({ type: z.literal('pong'), at: z.string() }),
]);
export type ClientMessage = z.infer<typeof ClientMessageSchema>;

/** A release version as `npm run release` names it (scripts/release/lib/manifest.cjs checkVersion). */
export const ReleaseVersionSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/, 'a release version: letters, digits, . _ + -; at most 128');
/** Node's names of the architectures releases are built for. */
export const ReleaseArchSchema = z.enum(['x64', 'arm64', 'arm']);
export type ReleaseArch = z.infer<typeof ReleaseArchSchema>;

/** What the relay tells a terminal to run (fleet updates); null: nothing rolled out to it for its architecture. */
export const ReleaseOfferSchema = z.object({
  release: z
    .object({
      version: ReleaseVersionSchema,
      arch: ReleaseArchSchema,
      /** SHA-256 of the bundle file, hex: checked after the download, before the signature. */
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
      size: z.number().int().positive(),
    })
    .nullable(),
});
export type ReleaseOffer = z.infer<typeof ReleaseOfferSchema>;

/** How an upgrade ended on the terminal (`qrpos upgrade`'s outcomes, as the fleet list shows them). */
export const UPGRADE_OUTCOMES = ['upgraded', 'rolled_back', 'refused', 'failed'] as const;
export const UpgradeOutcomeSchema = z.enum(UPGRADE_OUTCOMES);
export type UpgradeOutcome = z.infer<typeof UpgradeOutcomeSchema>;
export const ReleaseReportSchema = z.object({
  version: ReleaseVersionSchema,
  outcome: UpgradeOutcomeSchema,
  /** One line: what went wrong, or what it did (no control characters). */
  detail: displayText(1000).optional(),
});
export type ReleaseReport = z.infer<typeof ReleaseReportSchema>;

export const ErrorBodySchema = z.object({ error: z.object({ code: z.string(), message: z.string() }) });
export type ErrorBody = z.infer<typeof ErrorBodySchema>;

/** Error codes the relay returns to terminals. */
export type LinkErrorCode =
  | 'unauthorized' // missing/unknown/revoked credential (401)
  | 'bad_request' // body failed validation (400); message names the field
  | 'amount_out_of_range' // 422
  | 'currency_mismatch' // 422
  | 'method_not_enabled' // 422: the operator has not enabled this payment method for this terminal
  | 'not_found' // 404
  | 'conflict' // 409: same saleId with different amount/currency; refund over remaining
  | 'already_refunded' // 409: the sale was refunded (or voided) in full by an earlier request: nothing left to do
  | 'void_window_closed' // 422
  | 'refund_window_closed' // 422
  | 'not_refundable' // 422
  | 'omise_unavailable' // 503: Omise timed out or 5xx; retry later, same ids
  | 'storage_unavailable' // 503: the relay cannot write its database (disk full); retry later, same ids
  | 'too_large' // 413
  | 'unsupported_media_type' // 415: a body that is not JSON
  | 'internal'; // 500

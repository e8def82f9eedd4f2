/**
 * What qrpos relies on in Omise's answers, checked once at the client boundary (zod). Only the
 * fields named here are checked, and the client returns the answer as received (not zod's copy),
 * so fields Omise adds pass through untouched at no cost; a field the code reads that is missing
 * or of the wrong type makes the whole answer an `OmiseResponseError` (see ./api.ts), so a
 * half-read object never reaches a sale. The full shapes are described in ./types.ts.
 */
import { z } from 'zod';
import { CHARGE_STATUSES } from '../domain/status';

const time = z.string().min(1);
const nullableTime = time.nullable();
const metadata = z.record(z.string(), z.unknown());

const DocumentSchema = z.object({ object: z.literal('document'), id: z.string(), download_uri: z.string() });

export const SourceSchema = z.object({
  object: z.literal('source'),
  id: z.string(),
  type: z.string(),
  amount: z.number().int(),
  currency: z.string(),
  scannable_code: z.object({ object: z.literal('barcode'), image: DocumentSchema }).nullable(),
});

export const RefundSchema = z.object({
  object: z.literal('refund'),
  id: z.string(),
  amount: z.number().int(),
  currency: z.string(),
  charge: z.string(),
  voided: z.boolean(),
  status: z.enum(['pending', 'closed', 'failed']),
  metadata: metadata,
  created_at: time,
});

export const ChargeSchema = z.object({
  object: z.literal('charge'),
  id: z.string(),
  livemode: z.boolean(),
  amount: z.number().int(),
  currency: z.string(),
  status: z.enum(CHARGE_STATUSES),
  metadata: metadata,
  description: z.string().nullable().optional(),
  created_at: time,
  expires_at: nullableTime,
  expired_at: nullableTime.optional(),
  paid_at: nullableTime,
  failure_code: z.string().nullable(),
  failure_message: z.string().nullable(),
  refunded_amount: z.number().int(),
  /** The QR document is reached through the source (Alipay+ MPM). */
  source: SourceSchema.nullable(),
});

function listOf<T extends z.ZodType>(item: T) {
  return z.object({
    object: z.literal('list'),
    data: z.array(item),
    limit: z.number().int(),
    offset: z.number().int(),
    total: z.number().int(),
    order: z.enum(['chronological', 'reverse_chronological']).nullable().optional(),
  });
}

export const ChargeListSchema = listOf(ChargeSchema);
export const RefundListSchema = listOf(RefundSchema);

/**
 * An event's `data` is serialized in the account's default API version as of the event, whatever
 * Omise-Version the request names (Omise's webhook documentation): only what identifies it is
 * checked here. Whoever needs the object re-reads it (the relay retrieves the charge).
 */
const EventDataSchema = z.object({ object: z.string(), id: z.string() });

export const EventSchema = z.object({
  object: z.literal('event'),
  id: z.string(),
  key: z.string(),
  created_at: time,
  data: EventDataSchema,
});

export const EventListSchema = listOf(EventSchema);

/** Where the answer failed its schema, as `path: problem` lines: never the values (they may hold secrets). */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.code}`)
    .join('; ');
}

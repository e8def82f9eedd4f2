/**
 * What the customer-facing screen shows, as data. The sale state machine produces a ScreenModel;
 * the renderer (./renderer.ts) draws it at the display's size and reports what changed.
 * All text is already formatted (amounts via src/domain/money.ts).
 */
import type { PaymentMethod } from '../../domain/methods';
import type { Messages } from '../../domain/locale';
import type { Country } from '../../domain/money';

export interface StatusBar {
  online: boolean;
  /** Journal records / queued commands not yet at the relay. */
  unsynced: number;
  /** Local time shown on the idle screen, e.g. "14:05". */
  clock: string;
}

/**
 * Customer screens (entry, creating, qr, result, offline) carry the terminal's country: it picks
 * the languages (src/domain/locale.ts) and, on the QR screen, the wallets listed. Without it the
 * screens use TH (Thai, English).
 */
interface Customer {
  country?: Country;
}

/** The country of a customer screen whose model gives none. */
export const DEFAULT_COUNTRY: Country = 'TH';

export type ScreenModel =
  | { kind: 'boot'; message: string }
  | { kind: 'idle'; merchantName: string; currencyHint: string; status: StatusBar; notice?: string }
  | ({ kind: 'entry'; amountText: string; currency: string; status: StatusBar; error?: string } & Customer)
  | ({ kind: 'creating'; amountText: string; status: StatusBar } & Customer)
  | ({
      kind: 'qr';
      /** Shown above the amount, so the customer sees whom they pay. */
      merchantName?: string;
      amountText: string;
      /** The exact text to encode (the relay's decoded QR text). */
      qrText: string;
      secondsLeft: number;
      totalSeconds: number;
      /** `status.online` false shows the "connection lost" banner (the QR stays). */
      status: StatusBar;
      /** What can pay this QR (default: the Alipay+ wallets of the country). */
      wallets?: string[];
      /** The payment method (default: Alipay+): picks the scan prompt. */
      method?: PaymentMethod;
    } & Customer)
  /** How to pay: one key per method, the remembered one marked; large screens ask the customer. */
  | ({ kind: 'methods'; amountText: string; choices: { key: string; label: string; isDefault?: true }[]; error?: string; status: StatusBar } & Customer)
  | ({
      kind: 'result';
      outcome: 'paid' | 'failed' | 'expired' | 'cancelled' | 'late_paid' | 'not_created';
      amountText: string;
      /** Why (failed, not_created): the message in every customer language. */
      reason?: Messages;
      reference?: string;
      status: StatusBar;
    } & Customer)
  | ({ kind: 'offline'; message: string; status: StatusBar } & Customer)
  | { kind: 'pairing'; code: string; relayUrl: string; message?: string }
  | { kind: 'error'; title: string; lines: string[] }
  /** The daemon cannot start or go on: why, and what the installer can do about it. */
  | { kind: 'fatal'; title: string; reason: string[]; action: string[] }
  | { kind: 'pin'; title: string; entered: number; error?: string }
  | {
      kind: 'menu';
      title: string;
      /** e.g. [{ key: '1', label: 'Void / refund last sale' }] */
      items: { key: string; label: string }[];
      footer?: string;
    }
  | { kind: 'message'; title: string; lines: string[]; tone: 'info' | 'ok' | 'warn' | 'error' };

export type ScreenKind = ScreenModel['kind'];

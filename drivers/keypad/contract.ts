/**
 * Keypad contract. Every keypad (USB HID, GPIO matrix, keyboard of a plain terminal, the
 * demo's virtual one, the test fake) turns physical presses into KeyName events.
 *
 * Timing: one `key` event per press, emitted on key-down, in press order; no auto-repeat.
 * Lifecycle: `start()` resolves once the keypad is open or, when the device is missing,
 *   once the first attempt failed (it then emits `status` {connected:false} and keeps retrying
 *   with backoff in the background; it never rejects for a missing device).
 * Unplug: emits `status` {connected:false, reason}, no exception escapes; reopens when the
 *   device returns and emits `status` {connected:true}.
 * `stop()` is idempotent, cancels retries and releases the device; no events after it resolves.
 */
import type { EventEmitter } from 'node:events';

export const KEY_NAMES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '00', '.', 'enter', 'cancel', 'backspace', 'clear', 'menu', 'f1', 'f2', 'f3', 'f4'] as const;
export type KeyName = (typeof KEY_NAMES)[number];

export function isKeyName(v: unknown): v is KeyName {
  return typeof v === 'string' && (KEY_NAMES as readonly string[]).includes(v);
}

export interface KeyEvent {
  key: KeyName;
  /** performance.now() at the time the key was read from the device. */
  at: number;
}

export interface DeviceStatus {
  connected: boolean;
  /** Human-readable reason when not connected (never a secret). */
  reason?: string;
}

export interface KeypadEvents {
  key: [KeyEvent];
  status: [DeviceStatus];
}

export interface Keypad extends EventEmitter<KeypadEvents> {
  /** Short description for logs and the status endpoint, e.g. "hid 05a4:9881". */
  readonly description: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

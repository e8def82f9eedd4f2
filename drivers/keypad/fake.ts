import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { DeviceStatus, KeyName, Keypad, KeypadEvents } from './contract';
import { isKeyName } from './contract';

/**
 * A keypad driven by code: tests, the demo's virtual keypad (browser / HTTP API), benchmarks.
 * `press()` after `stop()` is ignored, like a real keypad that has been closed.
 */
export class FakeKeypad extends EventEmitter<KeypadEvents> implements Keypad {
  readonly description: string;
  private running = false;

  constructor(description = 'virtual') {
    super();
    this.description = description;
  }

  start(): Promise<void> {
    this.running = true;
    this.emit('status', { connected: true });
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.running = false;
    return Promise.resolve();
  }

  press(...keys: KeyName[]): void {
    for (const key of keys) {
      if (!isKeyName(key)) throw new Error(`unknown key "${String(key)}"`);
      if (this.running) this.emit('key', { key, at: performance.now() });
    }
  }

  /** Simulate unplug / replug for contract tests. */
  setConnected(status: DeviceStatus): void {
    if (this.running) this.emit('status', status);
  }
}

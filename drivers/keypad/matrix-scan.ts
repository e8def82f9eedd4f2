/**
 * Matrix keypad scanning, pure of timers: one scan drives each row low in turn and reads the
 * columns (pulled up, so a pressed key reads 0); the debouncer accepts a state after N identical
 * scans and reports each key once per press. Without diodes two keys can ghost, so more than
 * one key down is "several" and never a press.
 */
import type { GpioLine } from '../gpio/backend';

/** Index (row * cols + col) of the one key down, null for none, 'several' for more than one. */
export type ScanSample = number | null | 'several';

export function scanMatrix(rows: readonly GpioLine[], cols: readonly GpioLine[]): ScanSample {
  let found: ScanSample = null;
  for (let r = 0; r < rows.length; r++) {
    rows[r].write(0);
    try {
      for (let c = 0; c < cols.length; c++) {
        if (cols[c].read() === 0) found = found === null ? r * cols.length + c : 'several';
      }
    } finally {
      rows[r].write(1);
    }
  }
  return found;
}

export class MatrixDebouncer {
  private candidate: ScanSample = null;
  private count = 0;
  private stable: ScanSample = null;
  /** Emitted since the last all-released state: rolling back to it is not a new press. */
  private lastPressed: number | null = null;

  constructor(private readonly scans: number) {}

  /** Feed one scan; returns the key index to report as pressed, if any. */
  feed(sample: ScanSample): number | null {
    if (sample === this.candidate) this.count++;
    else {
      this.candidate = sample;
      this.count = 1;
    }
    if (this.count < this.scans || this.candidate === this.stable) return null;
    this.stable = this.candidate;
    if (this.stable === null) {
      this.lastPressed = null;
      return null;
    }
    if (this.stable === 'several' || this.stable === this.lastPressed) return null;
    this.lastPressed = this.stable;
    return this.stable;
  }

  reset(): void {
    this.candidate = null;
    this.count = 0;
    this.stable = null;
    this.lastPressed = null;
  }
}

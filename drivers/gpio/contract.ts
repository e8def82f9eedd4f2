/**
 * Outputs for the cashier: a status LED and a buzzer. Fire-and-forget: methods never throw and
 * never block the caller; a missing GPIO is logged once and the output does nothing.
 */
export interface Indicator {
  readonly description: string;
  start(): Promise<void>;
  /** Short beep per key. */
  keyBeep(): void;
  /** Distinct patterns for a paid and a failed / expired sale. */
  success(): void;
  failure(): void;
  /** Status LED: on = online and idle, blinking = working, off = offline / fault. */
  setLed(mode: 'on' | 'off' | 'blink'): void;
  stop(): Promise<void>;
}

/**
 * A terminal with no LED or buzzer fitted: every call does nothing and nothing is kept (the
 * terminal runs for months; a record of each call would grow with every key and sale).
 */
export class NoIndicator implements Indicator {
  readonly description = 'none';
  start(): Promise<void> {
    return Promise.resolve();
  }
  keyBeep(): void {}
  success(): void {}
  failure(): void {}
  setLed(): void {}
  stop(): Promise<void> {
    return Promise.resolve();
  }
}

/** An indicator that records what it was asked to do, for tests; unbounded, so never a device's. */
export class RecordingIndicator implements Indicator {
  readonly description = 'none';
  readonly calls: string[] = [];
  start(): Promise<void> {
    return Promise.resolve();
  }
  keyBeep(): void {
    this.calls.push('beep');
  }
  success(): void {
    this.calls.push('success');
  }
  failure(): void {
    this.calls.push('failure');
  }
  setLed(mode: 'on' | 'off' | 'blink'): void {
    this.calls.push(`led:${mode}`);
  }
  stop(): Promise<void> {
    return Promise.resolve();
  }
}

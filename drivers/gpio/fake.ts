/**
 * A GPIO backend in memory: outputs remember their level (with a history for pattern tests),
 * inputs read through a resolver (pull-up high by default), and `fail` makes every call throw
 * as if the chip had gone. FakeKeyMatrix wires a key matrix onto it.
 */
import type { GpioBackend, GpioLine, Level } from './backend';

export class FakeGpioBackend implements GpioBackend {
  readonly description = 'fake gpio';
  readonly levels = new Map<number, Level>();
  readonly history: { offset: number; value: Level; at: number }[] = [];
  readonly held = new Set<number>();
  /** Level seen on an input; default: pulled up. */
  inputLevel: (offset: number) => Level = () => 1;
  fail: Error | null = null;
  writes = 0;
  reads = 0;

  constructor(private readonly now: () => number = () => Date.now()) {}

  private line(offset: number): GpioLine {
    if (this.fail) throw this.fail;
    if (this.held.has(offset)) throw new Error(`GPIO ${offset} is already in use`);
    this.held.add(offset);
    return {
      offset,
      read: () => {
        if (this.fail) throw this.fail;
        this.reads++;
        return this.levels.has(offset) ? this.levels.get(offset)! : this.inputLevel(offset);
      },
      write: (v) => {
        if (this.fail) throw this.fail;
        this.writes++;
        this.levels.set(offset, v);
        this.history.push({ offset, value: v, at: this.now() });
      },
      release: () => {
        this.held.delete(offset);
      },
    };
  }

  output(offset: number, initial: Level): GpioLine {
    const l = this.line(offset);
    l.write(initial);
    return l;
  }

  input(offset: number): GpioLine {
    this.levels.delete(offset);
    return this.line(offset);
  }

  close(): void {
    this.held.clear();
  }
}

/**
 * A key matrix without diodes: a pressed key connects its row to its column, so a column reads
 * low while a row it is connected to is driven low. Several keys held can ghost, like the real one.
 */
export class FakeKeyMatrix {
  private readonly pressed = new Set<string>();

  constructor(
    private readonly gpio: FakeGpioBackend,
    private readonly rows: readonly number[],
    private readonly cols: readonly number[],
  ) {
    gpio.inputLevel = (offset) => this.level(offset);
  }

  press(row: number, col: number): void {
    this.pressed.add(`${row},${col}`);
  }

  release(row: number, col: number): void {
    this.pressed.delete(`${row},${col}`);
  }

  releaseAll(): void {
    this.pressed.clear();
  }

  private level(offset: number): Level {
    const c = this.cols.indexOf(offset);
    if (c < 0) return 1;
    // Current flows through any chain of pressed keys, so follow rows and columns transitively.
    const rowsSeen = new Set<number>();
    const colsSeen = new Set<number>([c]);
    let grew = true;
    while (grew) {
      grew = false;
      for (const k of this.pressed) {
        const [r, cc] = k.split(',').map(Number);
        if (colsSeen.has(cc) && !rowsSeen.has(r)) {
          rowsSeen.add(r);
          grew = true;
        }
        if (rowsSeen.has(r) && !colsSeen.has(cc)) {
          colsSeen.add(cc);
          grew = true;
        }
      }
    }
    for (const r of rowsSeen) if (this.gpio.levels.get(this.rows[r]) === 0) return 0;
    return 1;
  }
}

/**
 * Runs INSIDE the QEMU guest (compiled to dist/scripts/device-test/guest.js): the real keypad and
 * display drivers from drivers/ on a real kernel — HidKeypad on the QEMU USB keyboard's hidraw
 * node and FramebufferDisplay on the bochs (32 bpp) or cirrus (16 bpp) DRM framebuffer, configured
 * like the HDMI profile: found by name, XRGB8888 expected (so at 16 bpp the driver adapts). Digits typed on the keypad are shown on
 * an amount line (pushed as a dirty rectangle); Enter shows a QR whose text names the amount.
 * Progress goes to the serial console as `GUEST <EVENT> <json>` lines that the host harness waits for.
 *
 * Environment (from the kernel command line): EMU_ROTATION (0|90|180|270), EMU_FB_WIDTH/HEIGHT
 * (expected panel size), EMU_TTY (console whose cursor the driver hides; "none" to leave it),
 * EMU_POLE (serial port of the customer pole display, default /dev/ttyS1; "none" for no pole).
 * When /init created a gpio-sim chip ("pos-sim"), the GPIO indicator drives its line 0 (LED) and
 * line 1 (buzzer) and the guest samples both lines from the simulator's side.
 */
import { createCanvas, type Canvas, type CanvasRenderingContext2D } from 'canvas';
import QRCode from 'qrcode';
import { createDisplay, createKeypad } from '../../drivers/index';
import * as fs from 'node:fs';
import { DisplayConfigSchema, IndicatorConfigSchema, KeypadConfigSchema, PoleDisplayConfigSchema } from '../../drivers/config';
import type { Indicator } from '../../drivers/gpio/contract';
import type { PoleDisplay } from '../../drivers/serial/contract';
import type { Display, Rect } from '../../drivers/display/contract';
import type { KeyName } from '../../drivers/keypad/contract';
import { formatMoneyCode } from '../../src/domain/money';
import { createLogger } from '../../src/shared/log';

/** The QR text the host expects for an amount in minor units. */
export function qrTextFor(amount: number): string {
  return `qrpos-device-test amount=${amount} THB`;
}

const GPIO_SIM = '/sys/kernel/config/gpio-sim/pos';

/** Samples the simulator's view of the LED and buzzer lines and records every change. */
class GpioProbe {
  private readonly dir: string;
  private readonly last: Record<string, string> = {};
  readonly changes: Record<string, string[]> = { led: [], buzzer: [] };
  private timer: NodeJS.Timeout | null = null;

  constructor() {
    const dev = fs.readFileSync(`${GPIO_SIM}/dev_name`, 'utf8').trim();
    const chip = fs.readFileSync(`${GPIO_SIM}/bank0/chip_name`, 'utf8').trim();
    this.dir = `/sys/devices/platform/${dev}/${chip}`;
  }

  start(): void {
    this.timer = setInterval(() => this.sample(), 2);
  }

  sample(): void {
    for (const [name, line] of [['led', 0], ['buzzer', 1]] as const) {
      const v = fs.readFileSync(`${this.dir}/sim_gpio${line}/value`, 'utf8').trim();
      if (v !== this.last[name]) this.changes[name].push(v);
      this.last[name] = v;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

function say(event: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`GUEST ${event} ${JSON.stringify({ uptime: uptime(), ...fields })}\n`);
}

function uptime(): number {
  try {
    return Number(require('node:fs').readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  } catch {
    return -1;
  }
}

class Screen {
  readonly canvas: Canvas;
  private readonly ctx: CanvasRenderingContext2D;
  readonly amountLine: Rect;

  constructor(private readonly display: Display) {
    this.canvas = createCanvas(display.width, display.height);
    this.ctx = this.canvas.getContext('2d');
    this.amountLine = { x: 0, y: 0, w: display.width, h: Math.floor(display.height / 5) };
  }

  async blank(): Promise<void> {
    const { ctx } = this;
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    // Orientation marker: the host finds it where the rotation puts the logical top-left corner.
    ctx.fillStyle = '#ff0000';
    ctx.fillRect(this.canvas.width - 24, this.canvas.height - 24, 16, 16);
    await this.display.present(this.canvas, []);
  }

  async amount(amount: number): Promise<void> {
    const { ctx } = this;
    const r = this.amountLine;
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(r.x, r.y, r.w, r.h);
    ctx.fillStyle = '#000000';
    ctx.font = `bold ${Math.floor(Math.min(r.h * 0.6, r.w / 8))}px sans-serif`;
    ctx.textBaseline = 'middle';
    ctx.fillText(formatMoneyCode(amount, 'THB'), 16, r.y + r.h / 2);
    await this.display.present(this.canvas, [r]);
  }

  async qr(text: string): Promise<Rect> {
    const { ctx } = this;
    const top = this.amountLine.h;
    const avail = Math.min(this.canvas.width, this.canvas.height - top);
    const qr = QRCode.create(text, { errorCorrectionLevel: 'M' });
    const n = qr.modules.size;
    const scale = Math.max(1, Math.floor(avail / (n + 8)));
    const side = (n + 8) * scale;
    const x0 = Math.floor((this.canvas.width - side) / 2);
    const y0 = top + Math.floor((this.canvas.height - top - side) / 2);
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(x0, y0, side, side);
    ctx.fillStyle = '#000000';
    for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) if (qr.modules.get(r, c)) ctx.fillRect(x0 + (c + 4) * scale, y0 + (r + 4) * scale, scale, scale);
    const rect = { x: x0, y: y0, w: side, h: side };
    await this.display.present(this.canvas, [rect]);
    return rect;
  }
}

async function main(): Promise<void> {
  const env = process.env;
  const log = createLogger({ level: 'info' });
  const rotation = Number(env.EMU_ROTATION ?? '0');
  const displayCfg = DisplayConfigSchema.parse({
    driver: 'framebuffer',
    // Deliberately not fb0 (where the framebuffer is): the driver must find it by its name.
    device: '/dev/fb1',
    name: ['bochs-drmdrmfb', 'cirrusdrmfb'],
    pixelFormat: 'XRGB8888',
    rotation,
    ...(env.EMU_FB_WIDTH ? { width: Number(env.EMU_FB_WIDTH), height: Number(env.EMU_FB_HEIGHT) } : {}),
    tty: env.EMU_TTY === 'none' ? null : (env.EMU_TTY ?? '/dev/tty1'),
  });
  // QEMU's usb-kbd: vendor 0627, product 0001 (selected by id, as a terminal's config would).
  const keypadCfg = KeypadConfigSchema.parse({ driver: 'hid', vendorId: '0627', productId: '0001' });
  const display = createDisplay(displayCfg, log.child('display'));
  const keypad = createKeypad(keypadCfg, log.child('keypad'));
  let pole: PoleDisplay | null = null;
  if (env.EMU_POLE !== 'none') {
    const { SerialPoleDisplay } = require('../../drivers/serial/pole-display') as typeof import('../../drivers/serial/pole-display');
    pole = new SerialPoleDisplay(PoleDisplayConfigSchema.parse({ path: env.EMU_POLE ?? '/dev/ttyS1', commandSet: 'epson' }), log.child('pole'));
    await pole.start();
  }
  let indicator: Indicator | null = null;
  let probe: GpioProbe | null = null;
  if (fs.existsSync(GPIO_SIM)) {
    const { GpioIndicator } = require('../../drivers/gpio/indicator') as typeof import('../../drivers/gpio/indicator');
    indicator = new GpioIndicator(IndicatorConfigSchema.parse({ ledPin: 0, buzzerPin: 1, chipLabel: 'pos-sim' }), log.child('indicator'));
    probe = new GpioProbe();
    probe.sample();
    probe.start();
    await indicator.start();
    indicator.setLed('on');
  }
  const showPole = async (line1: string, line2: string): Promise<void> => {
    if (!pole) return;
    await pole.show(line1, line2);
    say('POLE_SHOWN', { line1, line2 });
  };

  const t0 = performance.now();
  await display.open();
  const adaptations = display.adaptations ?? [];
  say('DISPLAY_OPEN', { description: display.description, width: display.width, height: display.height, adaptations, ms: Math.round(performance.now() - t0) });
  const screen = new Screen(display);
  const t1 = performance.now();
  await screen.blank();
  await screen.amount(0);
  say('FIRST_FRAME', { ms: Math.round(performance.now() - t1) });

  let digits = '';
  let busy: Promise<void> = Promise.resolve();
  const onKey = async (key: KeyName): Promise<void> => {
    say('KEY', { key });
    indicator?.keyBeep();
    if (/^[0-9]$/.test(key) || key === '00') {
      digits = (digits + key).replace(/^0+/, '').slice(0, 9);
      const t = performance.now();
      await screen.amount(Number(digits || '0'));
      say('AMOUNT_SHOWN', { amount: Number(digits || '0'), ms: Math.round(performance.now() - t) });
      await showPole('AMOUNT', formatMoneyCode(Number(digits || '0'), 'THB'));
    } else if (key === 'enter') {
      const amount = Number(digits || '0');
      const text = qrTextFor(amount);
      const t = performance.now();
      const rect = await screen.qr(text);
      say('QR_SHOWN', { amount, text, rect, ms: Math.round(performance.now() - t) });
      await showPole('SCAN QR TO PAY', formatMoneyCode(amount, 'THB'));
      if (indicator && probe) {
        indicator.success();
        await new Promise((r) => setTimeout(r, 600)); // the success pattern lasts 250 ms
        probe.stop();
        probe.sample();
        say('GPIO_TRACE', { indicator: indicator.description, ...probe.changes });
      }
    }
  };
  keypad.on('key', (ev) => {
    // Keys are handled strictly in order, each after the previous frame is on the screen.
    busy = busy.then(() => onKey(ev.key)).catch((err: unknown) => say('ERROR', { message: (err as Error).message }));
  });
  keypad.on('status', (s) => say('KEYPAD_STATUS', { ...s }));
  await keypad.start();
  say('READY', { keypad: keypad.description, display: display.description, pole: pole?.description ?? null, indicator: indicator?.description ?? null });
}

if (require.main === module) {
  main().catch((err: unknown) => {
    say('FAIL', { message: (err as Error).message, stack: (err as Error).stack });
    process.exit(1);
  });
}

/**
 * The one place that turns driver config into driver instances. Real drivers are imported lazily,
 * so a machine without node-hid / onoff / serialport still runs the virtual and fake ones.
 */
import type { Logger } from '../src/shared/log';
import type { DisplayConfig, DriversConfig, KeypadConfig } from './config';
import type { Display } from './display/contract';
import type { Keypad } from './keypad/contract';
import type { Indicator } from './gpio/contract';
import { NoIndicator } from './gpio/contract';
import type { PoleDisplay, ReceiptPrinter } from './serial/contract';
import { FakeKeypad } from './keypad/fake';
import { MemoryDisplay } from './display/memory';

export interface Drivers {
  keypad: Keypad;
  display: Display;
  poleDisplay: PoleDisplay | null;
  printer: ReceiptPrinter | null;
  indicator: Indicator;
}

export function createKeypad(cfg: KeypadConfig, log: Logger): Keypad {
  switch (cfg.driver) {
    case 'virtual':
      return new FakeKeypad();
    case 'tty': {
      const { TtyKeypad } = require('./keypad/tty') as typeof import('./keypad/tty');
      return new TtyKeypad(process.stdin, log);
    }
    case 'hid': {
      const { HidKeypad } = require('./keypad/hid') as typeof import('./keypad/hid');
      return new HidKeypad(cfg, log);
    }
    case 'gpio-matrix': {
      const { GpioMatrixKeypad } = require('./keypad/gpio-matrix') as typeof import('./keypad/gpio-matrix');
      return new GpioMatrixKeypad(cfg, log);
    }
  }
}

export function createDisplay(cfg: DisplayConfig, log: Logger): Display {
  switch (cfg.driver) {
    case 'virtual':
      return new MemoryDisplay(cfg.width, cfg.height);
    case 'png': {
      const { PngFileDisplay } = require('./display/png-file') as typeof import('./display/png-file');
      return new PngFileDisplay(cfg, log);
    }
    case 'framebuffer': {
      const { FramebufferDisplay } = require('./display/framebuffer') as typeof import('./display/framebuffer');
      return new FramebufferDisplay(cfg, log);
    }
  }
}

export function createDrivers(cfg: DriversConfig, log: Logger): Drivers {
  let poleDisplay: PoleDisplay | null = null;
  let printer: ReceiptPrinter | null = null;
  let indicator: Indicator = new NoIndicator();
  if (cfg.poleDisplay) {
    const { SerialPoleDisplay } = require('./serial/pole-display') as typeof import('./serial/pole-display');
    poleDisplay = new SerialPoleDisplay(cfg.poleDisplay, log.child('pole'));
  }
  if (cfg.printer) {
    const { EscPosPrinter } = require('./serial/escpos-printer') as typeof import('./serial/escpos-printer');
    printer = new EscPosPrinter(cfg.printer, log.child('printer'));
  }
  if (cfg.indicator && (cfg.indicator.ledPin !== undefined || cfg.indicator.buzzerPin !== undefined)) {
    const { GpioIndicator } = require('./gpio/indicator') as typeof import('./gpio/indicator');
    indicator = new GpioIndicator(cfg.indicator, log.child('indicator'));
  }
  return {
    keypad: createKeypad(cfg.keypad, log.child('keypad')),
    display: createDisplay(cfg.display, log.child('display')),
    poleDisplay,
    printer,
    indicator,
  };
}

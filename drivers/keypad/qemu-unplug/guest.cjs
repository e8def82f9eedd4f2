// Runs inside the QEMU guest: the compiled HidKeypad on the real hidraw node of QEMU's USB
// keyboard. Prints keys and status lines for run.py (the host) to check.
const { HidKeypad } = require('./drivers/keypad/hid');
const { createLogger } = require('./src/shared/log');

const log = createLogger({ level: 'debug', write: (l) => process.stdout.write(`LOG ${l}\n`) });
const say = (kind, o) => process.stdout.write(`GUEST ${kind} ${JSON.stringify(o)}\n`);
const keypad = new HidKeypad(
  { driver: 'hid', vendorId: 0x0627, productId: 0x0001, keymap: 'standard-numpad', doubleZeroWindowMs: 0, inhibitConsole: true },
  log,
);
keypad.on('key', (e) => say('KEY', { key: e.key }));
keypad.on('status', (s) => say('STATUS', s));
keypad.start().then(() => say('READY', { connected: keypad.connected }));
process.stdin.resume();
process.stdin.on('data', (d) => {
  if (String(d).includes('stop')) void keypad.stop().then(() => say('STOPPED', keypad.stats));
});

/**
 * Records a keypad's raw reports in the fixture format (see fixtures/*.hex and parseCapture):
 *
 *   npx tsx drivers/keypad/capture.ts /dev/hidraw0 > drivers/keypad/fixtures/my-keypad.hex
 *   npx tsx drivers/keypad/capture.ts --list
 *
 * Press the keys, then Ctrl-C. Add a `#` comment at the top saying which keys were pressed and
 * what the keypad is, and a test case expecting those keys.
 */
import { performance } from 'node:perf_hooks';
import { nodeHidBackend } from './hid';
import { bytesToHex } from './hid-report';

async function main(argv: string[]): Promise<number> {
  const hid = nodeHidBackend();
  if (argv[0] === '--list' || argv.length === 0) {
    for (const d of await hid.devices()) {
      process.stdout.write(
        `${d.path ?? '?'}  ${d.vendorId.toString(16).padStart(4, '0')}:${d.productId.toString(16).padStart(4, '0')}  interface ${d.interface}  usage ${d.usagePage ?? '?'}/${d.usage ?? '?'}  ${d.product ?? ''}\n`,
      );
    }
    if (argv.length === 0) process.stderr.write('usage: capture.ts <hidraw path> | --list\n');
    return argv.length === 0 ? 2 : 0;
  }
  const handle = await hid.open(argv[0]);
  const t0 = performance.now();
  process.stdout.write(`# ${argv[0]} captured ${new Date().toISOString()}\n`);
  handle.on('data', (r) => process.stdout.write(`${Math.round(performance.now() - t0)} ${bytesToHex(r)}\n`));
  return new Promise((resolve) => {
    handle.on('error', (e) => {
      process.stderr.write(`read failed: ${String(e)}\n`);
      resolve(1);
    });
    process.once('SIGINT', () => {
      void handle.close().finally(() => resolve(0));
    });
  });
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}

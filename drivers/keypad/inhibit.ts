/**
 * Keeping a HID keypad's keys off the Linux console. hidraw does not grab the device, so every
 * key also goes through the input layer to the VT (and a getty there would take the digits as a
 * login). Writing 1 to `/sys/class/input/inputN/inhibited` (Linux ≥ 5.11) stops the input device
 * from delivering events while hidraw keeps receiving reports. No native code needed.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';

export interface InhibitResult {
  /** `inhibited` files we set to 1 (to restore on stop). */
  inhibited: string[];
  /** Human-readable problems, one per input device that could not be inhibited. */
  problems: string[];
}

/** The input devices (…/input/inputM) behind a hidraw node, found through sysfs. */
export async function inputDevicesOfHidraw(sysfsRoot: string, hidrawPath: string): Promise<string[]> {
  let real = hidrawPath;
  try {
    real = await fs.realpath(hidrawPath);
  } catch {
    // The node may be gone already or be a path only the test knows; the name is what matters.
  }
  const dir = path.join(sysfsRoot, 'class', 'hidraw', path.basename(real), 'device', 'input');
  let entries: string[];
  try {
    entries = await fs.readdir(dir);
  } catch {
    return [];
  }
  return entries.filter((e) => /^input\d+$/.test(e)).map((e) => path.join(dir, e));
}

export async function inhibitConsoleInput(sysfsRoot: string, hidrawPath: string): Promise<InhibitResult> {
  const result: InhibitResult = { inhibited: [], problems: [] };
  const inputs = await inputDevicesOfHidraw(sysfsRoot, hidrawPath);
  if (inputs.length === 0) {
    result.problems.push(`no input device found for ${path.basename(hidrawPath)} under ${sysfsRoot}/class/hidraw (nothing reaches the console, or sysfs is not mounted)`);
  }
  for (const input of inputs) {
    const file = path.join(input, 'inhibited');
    try {
      await fs.writeFile(file, '1', { flag: 'r+' });
      result.inhibited.push(file);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why =
        code === 'ENOENT'
          ? 'the kernel has no "inhibited" attribute (needs Linux 5.11 or later)'
          : code === 'EACCES' || code === 'EPERM'
            ? 'permission denied (needs root or write access to it, e.g. from a udev rule)'
            : (e as Error).message;
      result.problems.push(`cannot write ${file}: ${why}`);
    }
  }
  return result;
}

/** Undo `inhibitConsoleInput` (best effort: after an unplug the files are gone, which is fine). */
export async function releaseConsoleInput(files: readonly string[]): Promise<void> {
  await Promise.all(files.map((f) => fs.writeFile(f, '0', { flag: 'r+' }).catch(() => undefined)));
}

/**
 * A stand-in for node-hid, for tests and for replaying recorded keypad traffic on a machine
 * without USB: devices can be plugged, unplugged (the open handle's read fails, as hidraw does)
 * and fed input reports.
 */
import { EventEmitter } from 'node:events';
import type { HidBackend, HidDeviceInfo, HidHandle } from './hid';
import type { RecordedReport } from './hid-report';

class FakeHidHandle extends EventEmitter implements HidHandle {
  closed = false;
  constructor(readonly path: string) {
    super();
  }
  close(): Promise<void> {
    this.closed = true;
    this.removeAllListeners();
    return Promise.resolve();
  }
}

export class FakeHidBackend implements HidBackend {
  private readonly plugged = new Map<string, HidDeviceInfo>();
  private readonly handles = new Set<FakeHidHandle>();
  opens = 0;
  /** When set, open() rejects with it (e.g. a permission error). */
  openError: Error | null = null;

  plug(info: Partial<HidDeviceInfo> & { path: string }): void {
    this.plugged.set(info.path, { vendorId: 0x05a4, productId: 0x9881, interface: 0, usagePage: 1, usage: 6, ...info });
  }

  /** The device goes away: open handles see a read error, like hidraw after a USB disconnect. */
  unplug(path: string): void {
    this.plugged.delete(path);
    for (const h of [...this.handles]) {
      if (h.path !== path || h.closed) continue;
      this.handles.delete(h);
      h.emit('error', new Error('could not read from HID device'));
    }
  }

  /** Deliver one input report to whoever has the device open; false if nobody does. */
  send(path: string, report: Uint8Array | number[]): boolean {
    let delivered = false;
    for (const h of this.handles) {
      if (h.path === path && !h.closed) {
        h.emit('data', Buffer.from(report));
        delivered = true;
      }
    }
    return delivered;
  }

  isOpen(path: string): boolean {
    return [...this.handles].some((h) => h.path === path && !h.closed);
  }

  devices(): Promise<HidDeviceInfo[]> {
    return Promise.resolve([...this.plugged.values()]);
  }

  open(path: string): Promise<HidHandle> {
    if (this.openError) return Promise.reject(this.openError);
    if (!this.plugged.has(path)) return Promise.reject(new Error(`cannot open device with path ${path}`));
    this.opens++;
    const h = new FakeHidHandle(path);
    this.handles.add(h);
    return Promise.resolve(h);
  }
}

/** Feed a recording to a plugged fake device, in order (timing is the caller's business). */
export function replay(backend: FakeHidBackend, path: string, reports: readonly RecordedReport[]): void {
  for (const r of reports) backend.send(path, r.bytes);
}

/**
 * Linux framebuffer display (/dev/fbN): DRM fbdev on HDMI/DSI (16 or 32 bpp) and SPI panels driven by
 * fbtft / tinydrm (RGB565), found by number or by the driver name sysfs gives it. Only the dirty rectangles are converted, rotated and written, with
 * positioned writes at the framebuffer's own stride, because full-frame SPI updates are slow.
 *
 * Writes are synchronous: a framebuffer write is a memcpy into video (or deferred-io) memory
 * that takes well under a millisecond per frame region, far less than a thread-pool round trip
 * per row would cost.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Canvas } from 'canvas';
import type { Logger } from '../../src/shared/log';
import type { DisplayConfig } from '../config';
import type { Display, Rect } from './contract';
import { DisplayError, clipRect, fullRect } from './contract';
import type { FbPixelFormat, Rotation, Source } from './pixels';
import { bytesPerPixel, defaultFormat, formatAtDepth, convertRect, logicalSize, physicalRect } from './pixels';

export type FramebufferConfig = Extract<DisplayConfig, { driver: 'framebuffer' }>;

export interface FbGeometry {
  /** Physical (unrotated) size in pixels. */
  width: number;
  height: number;
  bitsPerPixel: number;
  /** Bytes per line, possibly more than width × bytes per pixel. */
  stride: number;
}

const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';
/** setterm -blank 0: the console must not blank the screen under the terminal's picture. */
const NO_BLANKING = '\x1b[9;0]';

/** Above this share of the canvas, one raw copy of the whole surface beats getImageData of the rectangles. */
const RAW_SURFACE_SHARE = 0.4;

export interface FbNode {
  /** fb0, fb1, … */
  node: string;
  /** Driver name from sysfs (fb_ili9486, vc4drmfb, simple, …); empty when unreadable. */
  name: string;
  sysfsDir: string;
}

/** The framebuffers listed in `graphicsDir` (normally /sys/class/graphics) with their names, by number. */
export function listFramebuffers(graphicsDir: string): FbNode[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(graphicsDir);
  } catch (err) {
    throw new DisplayError(`cannot list framebuffers in ${graphicsDir}: ${(err as Error).message}`);
  }
  return entries
    .filter((e) => /^fb\d+$/.test(e))
    .sort((a, b) => Number(a.slice(2)) - Number(b.slice(2)))
    .map((node) => {
      const sysfsDir = path.join(graphicsDir, node);
      let name = '';
      try {
        name = fs.readFileSync(path.join(sysfsDir, 'name'), 'utf8').trim();
      } catch {
        // An unnamed framebuffer matches no pattern.
      }
      return { node, name, sysfsDir };
    });
}

/** Whether a framebuffer name matches one of the patterns (`*` = any run of characters). */
export function fbNameMatches(name: string, patterns: readonly string[]): boolean {
  const literal = (part: string) => part.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
  return patterns.some((p) => new RegExp(`^${p.split('*').map(literal).join('.*')}$`).test(name));
}

export function readFbGeometry(sysfsDir: string): FbGeometry {
  const read = (name: string): string => {
    try {
      return fs.readFileSync(path.join(sysfsDir, name), 'utf8').trim();
    } catch (err) {
      throw new DisplayError(`cannot read framebuffer geometry ${path.join(sysfsDir, name)}: ${(err as Error).message}`);
    }
  };
  const size = /^(\d+),(\d+)$/.exec(read('virtual_size'));
  if (!size) throw new DisplayError(`unexpected ${path.join(sysfsDir, 'virtual_size')}: want "W,H"`);
  const width = Number(size[1]);
  const height = Number(size[2]);
  const bitsPerPixel = Number(read('bits_per_pixel'));
  if (!Number.isInteger(bitsPerPixel) || bitsPerPixel <= 0) throw new DisplayError(`unexpected ${path.join(sysfsDir, 'bits_per_pixel')}: want a number`);
  let stride = width * (bitsPerPixel / 8);
  if (fs.existsSync(path.join(sysfsDir, 'stride'))) stride = Number(read('stride'));
  if (!Number.isInteger(stride) || stride < width * (bitsPerPixel / 8)) {
    throw new DisplayError(`framebuffer stride ${stride} (${sysfsDir}) is shorter than a row of ${width} pixels at ${bitsPerPixel} bpp`);
  }
  return { width, height, bitsPerPixel, stride };
}

export class FramebufferDisplay implements Display {
  private geometry: FbGeometry | null = null;
  private format: FbPixelFormat | null = null;
  private fd: number | null = null;
  private ttyFd: number | null = null;
  /** What this driver last put on the panel, laid out like the framebuffer (stride × height). */
  private shadow: Buffer | null = null;
  private device: string;
  /** How the framebuffer found by the last open() differs from the config, each adapted to. */
  adaptations: readonly string[] = [];
  /** Differences already logged: each is logged once, however often the display is reopened. */
  private readonly logged = new Set<string>();
  /** Bytes written by the last present(), for benchmarks and tests. */
  bytesWritten = 0;
  writes = 0;

  constructor(
    private readonly cfg: FramebufferConfig,
    private readonly log: Logger,
  ) {
    this.device = cfg.device;
  }

  private get rotation(): Rotation {
    return this.cfg.rotation;
  }

  get width(): number {
    return this.logical().width;
  }

  get height(): number {
    return this.logical().height;
  }

  get description(): string {
    const g = this.geometry;
    const geo = g ? ` ${g.width}x${g.height} ${this.format} stride ${g.stride}` : '';
    return `framebuffer ${this.device}${geo} rotation ${this.rotation}`;
  }

  /** Before open() the size comes from the config (0 when it has none). */
  private logical(): { width: number; height: number } {
    const g = this.geometry;
    if (g) return logicalSize(g.width, g.height, this.rotation);
    return logicalSize(this.cfg.width ?? 0, this.cfg.height ?? 0, this.rotation);
  }

  async open(): Promise<void> {
    if (this.fd !== null) return;
    if (os.endianness() !== 'LE') throw new DisplayError('framebuffer driver supports little-endian machines only');
    const { device, sysfsDir } = this.locate();
    const g = readFbGeometry(sysfsDir);
    const adaptations: string[] = [];
    const mismatch = (what: string, adapted: string): void => {
      if (this.cfg.onMismatch === 'error') throw new DisplayError(`${what} (display.onMismatch is "error")`);
      adaptations.push(`${what}: ${adapted}`);
    };
    const format = this.pickFormat(g, device, sysfsDir, mismatch);
    if ((this.cfg.width !== undefined && this.cfg.width !== g.width) || (this.cfg.height !== undefined && this.cfg.height !== g.height)) {
      mismatch(
        `framebuffer ${device} is ${g.width}x${g.height} (${sysfsDir}/virtual_size) but the config expects ` +
          `${this.cfg.width ?? g.width}x${this.cfg.height ?? g.height} (display.width/height, panel size before rotation)`,
        `drawing at ${g.width}x${g.height}`,
      );
    }
    let fd: number;
    try {
      fd = fs.openSync(device, fs.constants.O_RDWR);
    } catch (err) {
      throw new DisplayError(`cannot open framebuffer ${device}: ${(err as Error).message}`);
    }
    const st = fs.fstatSync(fd);
    if (st.isFile() && st.size < g.stride * g.height) {
      fs.closeSync(fd);
      throw new DisplayError(`framebuffer file ${device} holds ${st.size} bytes, less than ${g.height} rows of ${g.stride} (${sysfsDir})`);
    }
    this.device = device;
    this.shadow = this.readShadow(fd, g);
    this.fd = fd;
    this.geometry = g;
    this.format = format;
    this.adaptations = adaptations;
    for (const a of adaptations) {
      if (this.logged.has(a)) continue;
      this.logged.add(a);
      this.log.warn('framebuffer differs from the config; adapted', { detail: a });
    }
    this.hideConsole();
    this.log.info('framebuffer open', { device, width: g.width, height: g.height, format, stride: g.stride, rotation: this.rotation });
  }

  /** The device node and its sysfs folder: the configured one, or with `name` the framebuffer of that name. */
  private locate(): { device: string; sysfsDir: string } {
    const graphicsDir = this.cfg.graphicsDir ?? '/sys/class/graphics';
    const configured = path.basename(this.cfg.device);
    if (!this.cfg.name) return { device: this.cfg.device, sysfsDir: this.cfg.sysfsDir ?? path.join(graphicsDir, configured) };
    const patterns = typeof this.cfg.name === 'string' ? [this.cfg.name] : this.cfg.name;
    const fbs = listFramebuffers(graphicsDir);
    const same = fbs.find((f) => f.node === configured);
    const pick = same && fbNameMatches(same.name, patterns) ? same : fbs.find((f) => fbNameMatches(f.name, patterns));
    if (!pick) {
      const there = fbs.length ? fbs.map((f) => `${f.node} "${f.name}"`).join(', ') : 'none';
      throw new DisplayError(
        `no framebuffer named ${patterns.map((p) => `"${p}"`).join(' or ')} in ${graphicsDir} (there: ${there}); ` +
          `is the panel connected and its driver loaded (boot config), or is display.name wrong?`,
      );
    }
    const device = path.join(path.dirname(this.cfg.device), pick.node);
    if (device !== this.cfg.device) this.log.info('framebuffer found by name', { name: pick.name, device, configured: this.cfg.device });
    return { device, sysfsDir: pick.sysfsDir };
  }

  /** Starts the shadow copy from the framebuffer's current content, so partial writes keep what is outside them. */
  private readShadow(fd: number, g: FbGeometry): Buffer {
    // Uint8Array over a fresh ArrayBuffer: 4-byte aligned for the 16/32-bit pixel views.
    const shadow = Buffer.from(new ArrayBuffer(g.stride * g.height));
    try {
      let got = 0;
      while (got < shadow.length) {
        const n = fs.readSync(fd, shadow, got, shadow.length - got, got);
        if (n <= 0) break;
        got += n;
      }
    } catch (err) {
      this.log.warn('cannot read the framebuffer back; the first partial update may blank the rest of the screen', { device: this.device, error: (err as Error).message });
    }
    return shadow;
  }

  private pickFormat(g: FbGeometry, device: string, sysfsDir: string, mismatch: (what: string, adapted: string) => void): FbPixelFormat {
    const wanted = this.cfg.pixelFormat;
    const usual = defaultFormat(g.bitsPerPixel);
    if (!usual) {
      throw new DisplayError(`framebuffer ${device} has ${g.bitsPerPixel} bits per pixel (${sysfsDir}); supported: 16 (RGB565/BGR565), 24 (RGB888/BGR888) and 32 (XRGB8888/XBGR8888)`);
    }
    if (g.bitsPerPixel !== 24 && g.stride % (g.bitsPerPixel / 8) !== 0) {
      throw new DisplayError(`framebuffer ${device} stride ${g.stride} (${sysfsDir}) is not a whole number of ${g.bitsPerPixel}-bit pixels`);
    }
    if (!wanted) return usual;
    if (bytesPerPixel(wanted) * 8 === g.bitsPerPixel) return wanted;
    const adapted = formatAtDepth(wanted, g.bitsPerPixel)!;
    mismatch(`framebuffer ${device} has ${g.bitsPerPixel} bits per pixel (${sysfsDir}/bits_per_pixel) but the config's pixelFormat is ${wanted}`, `drawing ${adapted}`);
    return adapted;
  }

  private hideConsole(): void {
    const tty = this.cfg.tty;
    if (!tty) return;
    try {
      // No O_CREAT: a missing tty must not turn into a regular file.
      this.ttyFd = fs.openSync(tty, fs.constants.O_WRONLY | fs.constants.O_NOCTTY | fs.constants.O_NONBLOCK);
      fs.writeSync(this.ttyFd, HIDE_CURSOR + NO_BLANKING);
    } catch (err) {
      this.log.warn('cannot hide the console cursor; it may blink over the picture', { tty, error: (err as Error).message });
      if (this.ttyFd !== null) fs.closeSync(this.ttyFd);
      this.ttyFd = null;
    }
  }

  async present(frame: Canvas, dirty: Rect[]): Promise<void> {
    const g = this.geometry;
    const format = this.format;
    if (this.fd === null || !g || !format) throw new DisplayError(`framebuffer ${this.device} is not open`);
    const { width, height } = logicalSize(g.width, g.height, this.rotation);
    if (frame.width !== width || frame.height !== height) {
      throw new DisplayError(`frame is ${frame.width}x${frame.height} but ${this.description} draws at ${width}x${height}`);
    }
    const rects = (dirty.length ? dirty : [fullRect({ width, height })]).map((r) => clipRect(r, width, height)).filter((r): r is Rect => r !== null);
    if (!rects.length) return;
    const area = rects.reduce((a, r) => a + r.w * r.h, 0);
    let raw: Source | null = null;
    if (area > RAW_SURFACE_SHARE * width * height) {
      if (frame.stride !== width * 4) throw new DisplayError(`frame must use canvas's 32-bit pixel format (stride ${frame.stride} for width ${width})`);
      raw = { words: toWords(frame.toBuffer('raw')), order: 'BGRA', x0: 0, y0: 0, stride: width };
    }
    const bpp = bytesPerPixel(format);
    const shadow = this.shadow!;
    this.bytesWritten = 0;
    this.writes = 0;
    const ctx = raw ? null : frame.getContext('2d');
    for (const r of rects) {
      const src: Source = raw ?? { words: toWords(ctx!.getImageData(r.x, r.y, r.w, r.h).data), order: 'RGBA', x0: r.x, y0: r.y, stride: r.w };
      const phys = physicalRect(r, this.rotation, width, height);
      convertRect(src, phys, this.rotation, width, height, format, shadow.buffer, g.stride, phys.y * g.stride + phys.x * bpp);
      // One write per rectangle: the byte span from its first to its last pixel. Between the rows
      // it carries the shadow copy, i.e. what is on the panel already, so only the rectangle changes.
      let start = phys.y * g.stride + phys.x * bpp;
      let end = (phys.y + phys.h - 1) * g.stride + (phys.x + phys.w) * bpp;
      if (phys.h === 1 && end % g.stride === 0) {
        // Linux 6.1 DRM fbdev (drm_fb_helper_memory_range_to_clip) computes an empty damage clip for
        // a write within one scanline that ends exactly at the end of the line, so the pixels never
        // reach the screen (seen under QEMU with bochs-drm). Spanning two lines avoids it.
        if (phys.y + 1 < g.height) end += bpp;
        else if (phys.y > 0) start = phys.y * g.stride - bpp;
      }
      this.write(shadow.subarray(start, end), start);
    }
  }

  private write(bytes: Uint8Array, position: number): void {
    let done = 0;
    try {
      while (done < bytes.length) {
        const n = fs.writeSync(this.fd!, bytes, done, bytes.length - done, position + done);
        if (n <= 0) throw new Error(`short write at offset ${position + done}`);
        done += n;
        this.writes++;
      }
    } catch (err) {
      throw new DisplayError(`write to framebuffer ${this.device} failed: ${(err as Error).message}`);
    }
    this.bytesWritten += done;
  }

  async close(): Promise<void> {
    if (this.ttyFd !== null) {
      try {
        fs.writeSync(this.ttyFd, SHOW_CURSOR);
      } catch (err) {
        this.log.warn('cannot restore the console cursor', { tty: this.cfg.tty, error: (err as Error).message });
      }
      fs.closeSync(this.ttyFd);
      this.ttyFd = null;
    }
    if (this.fd !== null) {
      fs.closeSync(this.fd);
      this.fd = null;
      this.shadow = null;
    }
  }
}

function toWords(bytes: Uint8Array | Uint8ClampedArray): Uint32Array {
  if (bytes.byteOffset % 4 === 0) return new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2);
  return new Uint32Array(Uint8Array.from(bytes).buffer);
}

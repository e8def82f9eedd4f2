/**
 * Which drivers a terminal uses, as written in its config file (`drivers` section) or taken from
 * a device profile in device/. One schema; the TypeScript types derive from it.
 */
import { z } from 'zod';

const hex16 = z.union([z.number().int().min(0).max(0xffff), z.string().regex(/^(0x)?[0-9a-fA-F]{1,4}$/).transform((s) => parseInt(s.replace(/^0x/, ''), 16))]);

export const KeypadConfigSchema = z.discriminatedUnion('driver', [
  /** The demo's / tests' keypad, fed by code or the browser page. */
  z.object({ driver: z.literal('virtual') }),
  /** Keys from the keyboard of the terminal the daemon runs in (development). */
  z.object({ driver: z.literal('tty') }),
  z.object({
    driver: z.literal('hid'),
    vendorId: hex16.optional(),
    productId: hex16.optional(),
    /** hidraw path instead of vendor/product, e.g. /dev/hidraw0 */
    path: z.string().optional(),
    /** Key map name (see drivers/keypad/keymaps) or an inline map of usage id (hex or decimal) → key. */
    keymap: z.union([z.string(), z.record(z.string(), z.string())]).default('standard-numpad'),
    /** Two 0x62 presses within this window count as one "00" key (cheap keypads). 0 disables. */
    doubleZeroWindowMs: z.number().int().min(0).max(500).default(0),
    /** Inhibit the keypad's input device so its keys do not reach the Linux console. */
    inhibitConsole: z.boolean().default(true),
    /** Report id of the keyboard report when the keypad's descriptor uses ids (9-byte reports). */
    reportId: z.number().int().min(1).max(255).optional(),
  }),
  z.object({
    driver: z.literal('gpio-matrix'),
    /** BCM numbers of the row lines (outputs) and column lines (inputs with pull-ups). */
    rows: z.array(z.number().int().min(0).max(57)).min(1).max(8),
    cols: z.array(z.number().int().min(0).max(57)).min(1).max(8),
    /** Key names per row, left to right, e.g. [["1","2","3","menu"], ...], or a preset: "4x4", "4x3" (drivers/keypad/matrix-layouts.ts). */
    layout: z.union([z.literal('4x4'), z.literal('4x3'), z.array(z.array(z.string()))]),
    scanIntervalMs: z.number().int().min(1).max(100).default(8),
    debounceScans: z.number().int().min(1).max(10).default(3),
    /** For tests: another root for /sys/class/gpio. */
    sysfsRoot: z.string().default('/sys/class/gpio'),
    /** gpiochip label to use instead of the Raspberry Pi pinctrl chips (e.g. gpio-sim under QEMU). */
    chipLabel: z.string().optional(),
  }),
]);
export type KeypadConfig = z.infer<typeof KeypadConfigSchema>;

export const DisplayConfigSchema = z.discriminatedUnion('driver', [
  z.object({ driver: z.literal('virtual'), width: z.number().int().min(64).max(4096), height: z.number().int().min(64).max(4096) }),
  z.object({ driver: z.literal('png'), path: z.string(), width: z.number().int().min(64).max(4096), height: z.number().int().min(64).max(4096) }),
  z.object({
    driver: z.literal('framebuffer'),
    /** The framebuffer node; with `name`, the usual node, used when its sysfs name matches. */
    device: z.string().default('/dev/fb0'),
    /**
     * The framebuffer's driver name(s) as in /sys/class/graphics/fbN/name (`*` matches any run of
     * characters), e.g. "fb_ili9486" or ["vc4drmfb", "simple*"]: the display is the fbN of that name,
     * whatever its number. Unset: `device` as it is.
     */
    name: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    /** Where the framebuffers are listed (tests point it at a fake tree); default /sys/class/graphics. */
    graphicsDir: z.string().optional(),
    /** Where the geometry is read; default <graphicsDir>/<basename of device>. */
    sysfsDir: z.string().optional(),
    rotation: z.union([z.literal(0), z.literal(90), z.literal(180), z.literal(270)]).default(0),
    /** Expected panel size (before rotation); see `onMismatch`. */
    width: z.number().int().optional(),
    height: z.number().int().optional(),
    /**
     * Expected pixel format; also the channel order when it is not the usual one for the depth
     * (RGB565 at 16 bpp, RGB888 at 24, XRGB8888 at 32). See `onMismatch`.
     */
    pixelFormat: z.enum(['RGB565', 'BGR565', 'RGB888', 'BGR888', 'XRGB8888', 'XBGR8888']).optional(),
    /**
     * What a framebuffer that differs from the expected size, depth or node does: "adapt" (default)
     * draws at what is there and logs each difference once; "error" makes open() fail naming both.
     */
    onMismatch: z.enum(['adapt', 'error']).optional(),
    /** The VT whose cursor to hide, e.g. /dev/tty1; null leaves it alone. */
    tty: z.string().nullable().default('/dev/tty1'),
  }),
]);
export type DisplayConfig = z.infer<typeof DisplayConfigSchema>;

export const PoleDisplayConfigSchema = z.object({
  path: z.string(),
  baudRate: z.number().int().default(9600),
  commandSet: z.enum(['epson', 'cd5220']).default('epson'),
});
export type PoleDisplayConfig = z.infer<typeof PoleDisplayConfigSchema>;

export const PrinterConfigSchema = z.object({
  path: z.string(),
  baudRate: z.number().int().default(19200),
  /** Print a receipt after each paid sale. */
  printOnSuccess: z.boolean().default(true),
  /** Characters per line (58 mm paper: 32, 80 mm: 48). */
  width: z.number().int().min(24).max(64).default(32),
  /** QR module size in dots, 1–16 (default 6). */
  qrModuleSize: z.number().int().min(1).max(16).optional(),
  /** IANA time zone for the printed payment time, e.g. "Asia/Bangkok"; default the system's. */
  timeZone: z.string().optional(),
});
export type PrinterConfig = z.infer<typeof PrinterConfigSchema>;

export const IndicatorConfigSchema = z.object({
  /** BCM numbers; omit what is not fitted. */
  ledPin: z.number().int().min(0).max(57).optional(),
  buzzerPin: z.number().int().min(0).max(57).optional(),
  /** Buzzer is active-high unless set. */
  activeLow: z.boolean().default(false),
  sysfsRoot: z.string().default('/sys/class/gpio'),
  /** gpiochip label to use instead of the Raspberry Pi pinctrl chips (e.g. gpio-sim under QEMU). */
  chipLabel: z.string().optional(),
});
export type IndicatorConfig = z.infer<typeof IndicatorConfigSchema>;

export const DriversConfigSchema = z.object({
  keypad: KeypadConfigSchema,
  display: DisplayConfigSchema,
  poleDisplay: PoleDisplayConfigSchema.optional(),
  printer: PrinterConfigSchema.optional(),
  indicator: IndicatorConfigSchema.optional(),
});
export type DriversConfig = z.infer<typeof DriversConfigSchema>;

/**
 * A small, strict flag parser for the qrpos command line. Unknown flags and missing values
 * are usage errors (exit code 2), never silently ignored.
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface FlagSpec {
  /** string (default), number, boolean, or a repeatable string list */
  type?: 'string' | 'number' | 'boolean' | 'list';
  description: string;
  default?: string | number | boolean;
  required?: boolean;
}

export type FlagValues = Record<string, string | number | boolean | string[] | undefined>;

export interface Parsed {
  flags: FlagValues;
  positionals: string[];
}

export function parseFlags(argv: string[], specs: Record<string, FlagSpec>, opts: { positionals?: number } = {}): Parsed {
  const flags: FlagValues = {};
  const positionals: string[] = [];
  for (const [name, spec] of Object.entries(specs)) if (spec.default !== undefined) flags[name] = spec.default;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const spec = specs[name];
    if (!spec) throw new UsageError(`unknown flag --${name}`);
    const type = spec.type ?? 'string';
    if (type === 'boolean') {
      if (eq !== -1) {
        const v = arg.slice(eq + 1);
        if (v !== 'true' && v !== 'false') throw new UsageError(`--${name} takes true or false, got "${v}"`);
        flags[name] = v === 'true';
      } else flags[name] = true;
      continue;
    }
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      if (value === undefined || value.startsWith('--')) throw new UsageError(`--${name} needs a value`);
      i++;
    }
    if (type === 'number') {
      const n = Number(value);
      if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got "${value}"`);
      flags[name] = n;
    } else if (type === 'list') {
      const prev = flags[name];
      flags[name] = [...(Array.isArray(prev) ? prev : []), value];
    } else flags[name] = value;
  }
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.required && flags[name] === undefined) throw new UsageError(`--${name} is required`);
  }
  if (opts.positionals !== undefined && positionals.length > opts.positionals) {
    throw new UsageError(`unexpected argument "${positionals[opts.positionals]}"`);
  }
  return { flags, positionals };
}

export function flagHelp(specs: Record<string, FlagSpec>): string {
  return Object.entries(specs)
    .map(([name, s]) => {
      const arg = s.type === 'boolean' ? '' : ` <${s.type === 'number' ? 'n' : 'value'}>`;
      const def = s.default !== undefined ? ` (default ${String(s.default)})` : s.required ? ' (required)' : '';
      return `  --${name}${arg}`.padEnd(32) + ` ${s.description}${def}`;
    })
    .join('\n');
}

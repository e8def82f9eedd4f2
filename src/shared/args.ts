/**
 * The strict, typed flag layer of the qrpos command line, on Node's own tokenizer
 * (`util.parseArgs`): it splits `--name value`, `--name=value` and `--`; this module gives the
 * flags their types and defaults and turns every mistake into a UsageError (exit code 2).
 * Unknown flags and missing values are never silently ignored. Only `--long` flags exist: an
 * argument with a single dash ("-5", "-x") is a positional, as it always was.
 */
import { parseArgs } from 'node:util';

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
  const options: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.default !== undefined) flags[name] = spec.default;
    options[name] = { type: spec.type === 'boolean' ? 'boolean' : 'string' };
  }
  // Not strict: the checks (and their messages) are ours, below, in the order of the arguments.
  const { tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
  let shortIndex = -1;
  for (const token of tokens) {
    if (token.kind === 'option-terminator') continue;
    if (token.kind === 'positional') {
      positionals.push(token.value);
      continue;
    }
    if (!token.rawName.startsWith('--')) {
      // "-abc" comes back as one token per letter, all with the argument's index: keep it once, whole.
      if (token.index !== shortIndex) positionals.push(argv[token.index]);
      shortIndex = token.index;
      continue;
    }
    const name = token.name;
    const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
    if (!spec) throw new UsageError(`unknown flag --${name}`);
    const type = spec.type ?? 'string';
    const value = token.value;
    if (type === 'boolean') {
      if (value !== undefined && value !== 'true' && value !== 'false') throw new UsageError(`--${name} takes true or false, got "${value}"`);
      flags[name] = value === undefined || value === 'true';
      continue;
    }
    // The tokenizer takes the next argument whatever it is; another flag is not a value.
    if (value === undefined || (!token.inlineValue && value.startsWith('--'))) throw new UsageError(`--${name} needs a value`);
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

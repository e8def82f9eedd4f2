import { describe, expect, it } from 'vitest';
import { flagHelp, parseFlags, UsageError, type FlagSpec } from './args';

const specs: Record<string, FlagSpec> = {
  config: { description: 'c', required: true },
  port: { type: 'number', description: 'p', default: 4010 },
  verbose: { type: 'boolean', description: 'v' },
  tag: { type: 'list', description: 't' },
  name: { description: 'n' },
};
const parse = (argv: string[], positionals?: number) => parseFlags(argv, specs, { positionals });
const error = (argv: string[], positionals?: number): string => {
  try {
    parse(argv, positionals);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error(`no error for ${JSON.stringify(argv)}`);
};

describe('parseFlags (our typed layer on util.parseArgs)', () => {
  it('reads --name value, --name=value, booleans, numbers, lists and defaults', () => {
    expect(parse(['--config', 'a.json', '--verbose', '--tag', 'x', '--tag=y', '--name=Shop 1'])).toEqual({
      flags: { config: 'a.json', port: 4010, verbose: true, tag: ['x', 'y'], name: 'Shop 1' },
      positionals: [],
    });
    expect(parse(['--config=a', '--port', '-5', '--verbose=false']).flags).toMatchObject({ port: -5, verbose: false });
    expect(parse(['--config', 'a', '--name', '-x']).flags.name).toBe('-x');
    expect(parse(['--config', 'a', '--name=--x']).flags.name).toBe('--x');
    expect(parse(['--config', 'a', '--name=']).flags.name).toBe('');
  });

  it('keeps single-dash arguments and everything after -- as positionals, whole', () => {
    expect(parse(['--config', 'a', '-x', '-abc', '-x=5', '-', '-5', 'p']).positionals).toEqual(['-x', '-abc', '-x=5', '-', '-5', 'p']);
    expect(parse(['--config', 'a', '--', '--verbose', '-x']).positionals).toEqual(['--verbose', '-x']);
    expect(parse(['--config', 'a', '--verbose', 'x']).positionals).toEqual(['x']);
  });

  it('says what is wrong, naming the flag', () => {
    expect(error(['--config', 'a', '--nope'])).toBe('unknown flag --nope');
    expect(error(['--config', 'a', '--nope=1'])).toBe('unknown flag --nope');
    expect(error(['--config', 'a', '--toString'])).toBe('unknown flag --toString');
    expect(error(['--config', 'a', '--port'])).toBe('--port needs a value');
    expect(error(['--config', '--verbose'])).toBe('--config needs a value');
    expect(error(['--config', 'a', '--name', '--'])).toBe('--name needs a value');
    expect(error(['--config', 'a', '--port', 'abc'])).toBe('--port must be a number, got "abc"');
    expect(error(['--config', 'a', '--port='])).toBe('--port must be a number, got ""');
    expect(error(['--config', 'a', '--verbose=yes'])).toBe('--verbose takes true or false, got "yes"');
    expect(error(['--verbose'])).toBe('--config is required');
    expect(error(['--config', 'a', 'one', 'two'], 1)).toBe('unexpected argument "two"');
    // In the order of the arguments: the first mistake is the one reported.
    expect(error(['--nope', '--port', 'abc'])).toBe('unknown flag --nope');
    expect(error(['--port', 'abc', '--nope'])).toBe('--port must be a number, got "abc"');
  });

  it('lists the flags for --help', () => {
    expect(flagHelp(specs)).toContain('--port <n>');
    expect(flagHelp(specs)).toMatch(/--config <value> +c \(required\)/);
  });
});

/**
 * The environment the systemd unit gives the terminal (`Environment=` lines of
 * systemd/qrpos-terminal.service), so the benchmark runs the daemon with exactly the V8 and
 * malloc settings the device uses and the two cannot drift apart.
 */
import fs from 'node:fs';
import path from 'node:path';

export const TERMINAL_UNIT = path.resolve(__dirname, '..', '..', 'systemd', 'qrpos-terminal.service');

/**
 * Parses the `Environment=` assignments of a unit's text: space-separated `NAME=value` words,
 * a word may be double- or single-quoted as a whole ("NAME=a b"), later assignments win.
 * Enough of systemd's syntax for our own unit; anything else is an error, not a guess.
 */
export function parseUnitEnvironment(unitText: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of unitText.split('\n')) {
    const line = raw.trim();
    if (!line.startsWith('Environment=')) continue;
    const rest = line.slice('Environment='.length);
    const words = rest.match(/"[^"]*"|'[^']*'|[^\s"']+/g) ?? [];
    for (const w of words) {
      const word = /^(["']).*\1$/.test(w) ? w.slice(1, -1) : w;
      const eq = word.indexOf('=');
      if (eq <= 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(word.slice(0, eq))) throw new Error(`cannot read the unit's Environment= assignment "${w}"`);
      env[word.slice(0, eq)] = word.slice(eq + 1);
    }
  }
  return env;
}

export function terminalUnitEnvironment(unitFile = TERMINAL_UNIT): Record<string, string> {
  return parseUnitEnvironment(fs.readFileSync(unitFile, 'utf8'));
}

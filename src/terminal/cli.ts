import type { Command } from '../cli/command';

export const command: Command = {
  summary: 'terminal',
  help: 'usage: qrpos terminal (being built)',
  run(): Promise<number> {
    process.stderr.write('qrpos terminal: not built yet\n');
    return Promise.resolve(1);
  },
};

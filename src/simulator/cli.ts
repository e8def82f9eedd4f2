import type { Command } from '../cli/command';

export const command: Command = {
  summary: 'simulator',
  help: 'usage: qrpos simulator (being built)',
  run(): Promise<number> {
    process.stderr.write('qrpos simulator: not built yet\n');
    return Promise.resolve(1);
  },
};

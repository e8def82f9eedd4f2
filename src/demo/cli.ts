import type { Command } from '../cli/command';

export const command: Command = {
  summary: 'demo',
  help: 'usage: qrpos demo (being built)',
  run(): Promise<number> {
    process.stderr.write('qrpos demo: not built yet\n');
    return Promise.resolve(1);
  },
};

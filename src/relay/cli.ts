import type { Command } from '../cli/command';

export const command: Command = {
  summary: 'relay',
  help: 'usage: qrpos relay (being built)',
  run(): Promise<number> {
    process.stderr.write('qrpos relay: not built yet\n');
    return Promise.resolve(1);
  },
};

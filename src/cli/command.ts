/** What every `qrpos <command>` module exports as `command`. */
export interface Command {
  /** One line for `qrpos --help`. */
  summary: string;
  /** Full help text for `qrpos <command> --help`. */
  help: string;
  /** Help for `qrpos <command> <sub> ... --help` when a subcommand has its own (else `help`). */
  helpFor?(argv: string[]): string | undefined;
  /**
   * Runs the command. Resolves with the process exit code once the command is done
   * (long-running servers resolve only after a graceful shutdown).
   * Throw UsageError (src/shared/args.ts) for bad flags: main prints it and exits 2.
   */
  run(argv: string[]): Promise<number>;
}

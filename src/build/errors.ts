/**
 * A build that stopped at a step. Printed as one line by the CLI; the last lines of the step's
 * output are kept so the user sees why without scrolling back through the progress display.
 */
export class BuildError extends Error {
  override name = 'BuildError';
  constructor(
    /** `[stage 2/5] RUN make`, as the progress display names the step. */
    readonly step: string,
    /** The command or instruction that failed, as written. */
    readonly command: string,
    readonly reason: string,
    /** Exit code of a failed RUN; undefined for other failures. */
    readonly exitCode?: number,
    /** The last lines the step printed. */
    readonly output: string[] = [],
  ) {
    super(
      exitCode !== undefined
        ? `${step}: process "${command}" did not complete successfully: exit code: ${exitCode}`
        : `${step}: ${reason}`,
    );
  }
}

/** The build was interrupted (SIGINT/SIGTERM): nothing was tagged. */
export class BuildCancelledError extends Error {
  override name = 'BuildCancelledError';
  constructor() {
    super('build cancelled');
  }
}

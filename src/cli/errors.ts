/**
 * An error the user can act on: printed as one line (plus an optional hint), no stack trace.
 * Modules throw their own typed errors (DockerfileError, RegistryError, BuildError...); the CLI
 * prints any error's message the same way, so this class is only for CLI-level failures.
 */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly hint?: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** Rootless mode cannot start: the message names what is missing and how to get it. */
export class RootlessError extends Error {
  override name = 'RootlessError';
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

import { CliError } from '../errors.js';

/** Placeholder run() for commands whose engine has not landed yet: says so plainly, exit 1. */
export function notImplemented(name: string): () => Promise<number> {
  return async () => {
    throw new CliError(`"tsbuild ${name}" is not implemented yet`);
  };
}

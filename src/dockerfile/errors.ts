import { DockerfileError } from './ast.js';

/**
 * A DockerfileError whose message reads `file:line:col: reason (line N)`: the place in the form
 * editors jump to, and the words `line N` that BuildKit's messages carry, so tools and tests that
 * look for either find it. The excerpt (the offending source line) stays a field, off the message.
 */
export function syntaxError(file: string, line: number, column: number, reason: string, excerpt?: string): DockerfileError {
  const e = new DockerfileError(file, line, column, reason, excerpt);
  e.message = `${file}:${line}:${column}: ${reason} (line ${line})`;
  return e;
}

/** Trims an excerpt to one readable line. */
export function excerptOf(text: string): string {
  const first = text.split('\n', 1)[0]!.trimEnd();
  return first.length > 80 ? `${first.slice(0, 77)}...` : first;
}

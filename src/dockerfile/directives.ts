/**
 * Parser directives (`# syntax=`, `# escape=`, `# check=`): only in the comment lines at the very
 * top. The first line that is not a known directive (a blank line, an ordinary comment, an
 * unknown `# key=value`, an instruction) ends them for good. A repeated directive is an error.
 */
import { isSpaceCode } from './text.js';

export const knownDirectives = new Set(['syntax', 'escape', 'check']);

const directiveLine = /^([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*([^\n]+?)[\t\n\f\r ]*$/;

export class DirectiveError extends Error {
  override name = 'DirectiveError';
}

export class DirectiveParser {
  private done = false;
  private readonly seen = new Set<string>();

  /** `line` has its newline and leading whitespace removed. Returns the directive, or null. */
  parseLine(line: string): { name: string; value: string } | null {
    if (this.done) return null;
    if (line.charCodeAt(0) !== 0x23 /* # */) {
      this.done = true;
      return null;
    }
    let i = 1;
    while (i < line.length && isSpaceCode(line.charCodeAt(i))) i++;
    const m = directiveLine.exec(line.slice(i));
    const name = m?.[1]!.toLowerCase();
    if (!m || !name || !knownDirectives.has(name)) {
      this.done = true;
      return null;
    }
    if (this.seen.has(name)) throw new DirectiveError(`only one ${name} parser directive can be used`);
    this.seen.add(name);
    return { name, value: m[2]! };
  }
}

/**
 * Go's path/filepath.Match, which BuildKit uses for COPY wildcards: `*` and `?` never cross a
 * `/`, `[a-z]` and `[^a-z]` classes, `\` escapes. `**` has no special meaning (it is two stars).
 */

export class PatternError extends Error {
  override name = 'PatternError';
}

const cache = new Map<string, RegExp>();

function escapeRe(ch: string): string {
  return /[\\^$.*+?()[\]{}|/-]/.test(ch) ? `\\${ch}` : ch;
}

/** Compiles one Go pattern to an anchored regular expression; throws PatternError when malformed. */
export function compileMatch(pattern: string): RegExp {
  const hit = cache.get(pattern);
  if (hit) return hit;
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\') {
      i++;
      if (i >= pattern.length) throw new PatternError(`syntax error in pattern ${JSON.stringify(pattern)}`);
      re += escapeRe(pattern[i]!);
    } else if (c === '[') {
      let j = i + 1;
      let cls = '';
      let negate = false;
      if (pattern[j] === '^') {
        negate = true;
        j++;
      }
      let first = true;
      for (;;) {
        if (j >= pattern.length) throw new PatternError(`syntax error in pattern ${JSON.stringify(pattern)}`);
        let ch = pattern[j]!;
        if (ch === ']' && !first) break;
        first = false;
        if (ch === '\\') {
          j++;
          if (j >= pattern.length) throw new PatternError(`syntax error in pattern ${JSON.stringify(pattern)}`);
          ch = pattern[j]!;
        } else if (ch === '-' || ch === '/') {
          if (ch === '-') throw new PatternError(`syntax error in pattern ${JSON.stringify(pattern)}`);
        }
        let item = escapeRe(ch);
        if (pattern[j + 1] === '-' && pattern[j + 2] !== ']' && j + 2 < pattern.length) {
          let hi = pattern[j + 2]!;
          j += 2;
          if (hi === '\\') {
            j++;
            if (j >= pattern.length) throw new PatternError(`syntax error in pattern ${JSON.stringify(pattern)}`);
            hi = pattern[j]!;
          }
          if (hi < ch) throw new PatternError(`syntax error in pattern ${JSON.stringify(pattern)}`);
          item += `-${escapeRe(hi)}`;
        }
        cls += item;
        j++;
      }
      // A class never matches the separator, negated or not.
      re += negate ? `[^/${cls}]` : `(?:(?!/)[${cls}])`;
      i = j;
    } else re += escapeRe(c);
  }
  const out = new RegExp(`${re}$`, 's');
  cache.set(pattern, out);
  return out;
}

export function match(pattern: string, name: string): boolean {
  return compileMatch(pattern).test(name);
}

/** Whether a path has glob metacharacters (BuildKit's containsWildcards: `\` escapes one char). */
export function containsWildcards(p: string): boolean {
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === '*' || c === '?' || c === '[') return true;
    if (c === '\\') i++;
  }
  return false;
}

/** Removes glob escapes from a literal component (`a\*b` names the file `a*b`). */
export function unescapeLiteral(p: string): string {
  return p.replace(/\\(.)/g, '$1');
}

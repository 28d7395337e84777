/**
 * Whitespace as Go's unicode.IsSpace sees it, which is what BuildKit trims with. It differs from
 * JavaScript's \s: U+0085 (NEL) is a space, U+FEFF (BOM) is not.
 */

export function isSpaceCode(c: number): boolean {
  if (c <= 0x20) return c === 0x20 || (c >= 0x09 && c <= 0x0d);
  if (c < 0x85) return false;
  return (
    c === 0x85 ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000
  );
}

export function trimLeftSpace(s: string): string {
  let i = 0;
  const n = s.length;
  while (i < n && isSpaceCode(s.charCodeAt(i))) i++;
  return i === 0 ? s : s.slice(i);
}

export function trimRightSpace(s: string): string {
  let j = s.length;
  while (j > 0 && isSpaceCode(s.charCodeAt(j - 1))) j--;
  return j === s.length ? s : s.slice(0, j);
}

export function trimSpace(s: string): string {
  return trimRightSpace(trimLeftSpace(s));
}

/** Go's regexp `[\t\v\f\r ]+`, the whitespace BuildKit splits words of FROM, EXPOSE... on. */
export const reWhitespace = /[\t\v\f\r ]+/;

/** strings.Split-like split on reWhitespace with a limit of 2 (n=2 in Go). */
export function splitWhitespace2(s: string): [string] | [string, string] {
  const m = reWhitespace.exec(s);
  if (!m) return [s];
  return [s.slice(0, m.index), s.slice(m.index + m[0].length)];
}

/** Go's regexp.Split(s, -1) on reWhitespace. */
export function splitWhitespaceAll(s: string): string[] {
  return s.split(/[\t\v\f\r ]+/);
}

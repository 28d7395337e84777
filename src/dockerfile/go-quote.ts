/**
 * Go's strconv.Quote, which BuildKit's test dump prints every value with: `\a \b \f \n \r \t \v`,
 * `\\` and `\"` escaped, other control bytes as `\xNN`, runes that are not printable (Go's
 * unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space) as `\uXXXX`
 * or `\UXXXXXXXX`, everything else literal.
 */
const printable = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;
const plain = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

const shortEscapes: Record<number, string> = { 7: '\\a', 8: '\\b', 12: '\\f', 10: '\\n', 13: '\\r', 9: '\\t', 11: '\\v', 0x5c: '\\\\', 0x22: '\\"' };

export function goQuote(s: string): string {
  if (plain.test(s)) return `"${s}"`;
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    const short = shortEscapes[c];
    if (short) out += short;
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else if (c < 0x7f || printable.test(ch)) out += ch;
    else if (c >= 0xd800 && c <= 0xdfff) out += '\uFFFD'; // a lone surrogate (from a JSON escape): Go's decoder makes it U+FFFD
    else if (c < 0x10000) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += `\\U${c.toString(16).padStart(8, '0')}`;
  }
  return `${out}"`;
}

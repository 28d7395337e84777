/**
 * How each instruction's arguments are cut into words, as BuildKit's parser does it before any
 * typing (its line_parsers.go): JSON arrays, whitespace lists, quote-aware words, key=value pairs.
 * These rules decide what BuildKit's test dump prints, so they are kept exactly, quirks included.
 */
import type { EscapeToken } from './lexer.js';
import { goQuote } from './go-quote.js';
import { isSpaceCode, splitWhitespace2, splitWhitespaceAll } from './text.js';

/** The arguments of one instruction: BuildKit's `Next` chain, and whether it was a JSON array. */
export interface LineArguments {
  args: string[];
  json: boolean;
}

/** A parser-level failure; the scanner adds the place. */
export class ArgumentError extends Error {
  override name = 'ArgumentError';
}

const NONE: LineArguments = { args: [], json: false };

/** JSON exec form: valid JSON array of strings. `undefined` when it is not JSON (use the other form). */
export function parseJSONArray(rest: string): string[] | undefined {
  let i = 0;
  while (i < rest.length && isSpaceCode(rest.charCodeAt(i))) i++;
  if (rest.charCodeAt(i) !== 0x5b /* [ */) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(i === 0 ? rest : rest.slice(i));
  } catch {
    return undefined;
  }
  if (!Array.isArray(value)) return undefined;
  for (const v of value) {
    if (typeof v !== 'string') throw new ArgumentError('when using JSON array syntax, arrays must be comprised of strings only');
  }
  return value as string[];
}

function maybeJSON(rest: string): LineArguments {
  if (rest === '') return NONE;
  const json = parseJSONArray(rest);
  if (json) return { args: json, json: true };
  return { args: [rest], json: false };
}

function maybeJSONToList(rest: string): LineArguments {
  const json = parseJSONArray(rest);
  if (json) return { args: json, json: true };
  return whitespaceDelimited(rest);
}

function whitespaceDelimited(rest: string): LineArguments {
  if (rest === '') return NONE;
  return { args: splitWhitespaceAll(rest), json: false };
}

function single(rest: string): LineArguments {
  return rest === '' ? NONE : { args: [rest], json: false };
}

/**
 * Quote-aware words; quotes and escapes are kept as written (expansion removes them later).
 * An escape token at the very end is dropped.
 */
export function parseWords(rest: string, escape: EscapeToken): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let blankOK = false;
  let quote = '';
  const n = rest.length;
  for (let i = 0; i < n; i++) {
    let ch = rest[i]!;
    if (!inWord) {
      if (isSpaceCode(ch.charCodeAt(0))) continue;
      inWord = true;
    }
    if (quote === '') {
      if (isSpaceCode(ch.charCodeAt(0))) {
        if (blankOK || word.length > 0) words.push(word);
        word = '';
        blankOK = false;
        inWord = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
      } else if (ch === escape) {
        if (i + 1 === n) continue;
        word += ch;
        ch = rest[++i]!;
      }
      word += ch;
      continue;
    }
    if (ch === quote) quote = '';
    else if (ch === escape && quote !== "'") {
      if (i + 1 === n) {
        quote = '';
        continue;
      }
      word += ch;
      ch = rest[++i]!;
    }
    word += ch;
  }
  if (inWord && (blankOK || word.length > 0)) words.push(word);
  return words;
}

/** ENV and LABEL: `k=v k2=v2` gives triples (key, value, "="); legacy `k v...` gives (k, "v...", ""). */
function nameVal(rest: string, instruction: string, escape: EscapeToken): LineArguments {
  const words = parseWords(rest, escape);
  if (words.length === 0) return NONE;
  if (!words[0]!.includes('=')) {
    const parts = splitWhitespace2(rest);
    if (parts.length < 2) throw new ArgumentError(`${instruction} must have two arguments`);
    return { args: [parts[0], parts[1]!, ''], json: false };
  }
  const args: string[] = [];
  for (const word of words) {
    const eq = word.indexOf('=');
    if (eq < 0) throw new ArgumentError(`Syntax error - can't find = in ${goQuote(word)}. Must be of the form: name=value`);
    args.push(word.slice(0, eq), word.slice(eq + 1), '=');
  }
  return { args, json: false };
}


/** HEALTHCHECK: the type word, then the command as RUN takes it. */
function healthConfig(rest: string): LineArguments {
  let sep = 0;
  while (sep < rest.length && !isAsciiSpace(rest.charCodeAt(sep))) sep++;
  if (sep === 0) return NONE;
  let next = sep;
  while (next < rest.length && isAsciiSpace(rest.charCodeAt(next))) next++;
  const cmd = maybeJSON(rest.slice(next));
  return { args: [rest.slice(0, sep), ...cmd.args], json: cmd.json };
}

function isAsciiSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

/**
 * The arguments of `keyword` (any case). Unknown keywords get one empty argument, as BuildKit's
 * parser keeps them (the typed layer rejects them). ONBUILD is handled by the caller.
 */
export function lineArguments(keyword: string, rest: string, escape: EscapeToken): LineArguments {
  switch (keyword.toLowerCase()) {
    case 'run':
    case 'cmd':
    case 'entrypoint':
    case 'shell':
      return maybeJSON(rest);
    case 'add':
    case 'copy':
    case 'volume':
      return maybeJSONToList(rest);
    case 'from':
    case 'expose':
      return whitespaceDelimited(rest);
    case 'maintainer':
    case 'stopsignal':
    case 'user':
    case 'workdir':
      return single(rest);
    case 'env':
      return nameVal(rest, 'ENV', escape);
    case 'label':
      return nameVal(rest, 'LABEL', escape);
    case 'arg':
      return { args: parseWords(rest, escape), json: false };
    case 'healthcheck':
      return healthConfig(rest);
    default:
      return { args: [''], json: false };
  }
}

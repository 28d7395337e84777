/**
 * Shell-word expansion as BuildKit's Dockerfile frontend does it (frontend/dockerfile/shell): quotes,
 * escapes, `$VAR`, `${VAR}` and the `${VAR<op>word}` forms `:-  -  :+  +  :?  ?  #  ##  %  %%  /  //`.
 * It is not a shell: no command substitution, no globbing, no arithmetic. Words are expanded once;
 * the result is never re-scanned.
 *
 * Differences from BuildKit, on purpose:
 * - BuildKit ≥ 0.15 shares one word buffer between nested `${...}` scans, so `expandWords('a${X:-b}c')`
 *   there loses the `a`. Only EXPOSE uses word splitting with variables, and the result is
 *   clearly a bug; here each nested scan has its own buffer (`['abc']`).
 */

/** Where variable values come from: a Map, or a lookup that returns undefined for unset names. */
export type EnvLookup = ReadonlyMap<string, string> | ((name: string) => string | undefined);

export interface ShellWordOptions {
  /** The Dockerfile's escape character (`# escape=` directive): backslash by default, or a backtick. */
  escapeToken?: '\\' | '`';
  /** Leave quote characters alone (not treated as quoting): used for heredoc bodies. */
  skipProcessQuotes?: boolean;
  /** Keep quote characters in the result while still honouring them. */
  rawQuotes?: boolean;
  /** Keep escape characters in the result while still honouring them. */
  rawEscapes?: boolean;
  /** Leave references to unset variables as written (`$X`, `${X:-y}`) instead of expanding them. */
  skipUnsetEnv?: boolean;
}

export interface ExpansionResult {
  /** The word expanded as one string (whitespace kept). */
  value: string;
  /** The expansion split into words on unquoted whitespace, after substitution. */
  words: string[];
  /** Variables that were referenced and set (their value was used). Sorted. */
  matched: string[];
  /** Variables that were referenced but unset. Sorted. */
  unmatched: string[];
}

/** A malformed word or a `${VAR?msg}` failure. The message is BuildKit's, without location. */
export class ShellWordError extends Error {
  override name = 'ShellWordError';
  constructor(
    readonly reason: string,
    /** The word that failed to expand. */
    readonly word: string,
  ) {
    super(`failed to process ${JSON.stringify(word)}: ${reason}`);
  }
}

/** Expands one word to one string (`ProcessWord`): used by most instructions. */
export function expandWord(word: string, env: EnvLookup, opts?: ShellWordOptions): string {
  return expand(word, env, opts).value;
}

/** Expands and splits into words (`ProcessWords`): used by EXPOSE and by the parser. */
export function expandWords(word: string, env: EnvLookup, opts?: ShellWordOptions): string[] {
  return expand(word, env, opts).words;
}

/** Expands and reports which variables were referenced (for cache keys and undefined-var warnings). */
export function expandWordWithMatches(word: string, env: EnvLookup, opts?: ShellWordOptions): ExpansionResult {
  return expand(word, env, opts);
}

/** Whether a word contains anything that expansion would change (a `$`, a quote or an escape). */
export function needsExpansion(word: string, escapeToken: '\\' | '`' = '\\'): boolean {
  return word.includes('$') || word.includes('"') || word.includes("'") || word.includes(escapeToken);
}

function expand(word: string, env: EnvLookup, opts: ShellWordOptions = {}): ExpansionResult {
  const lexer = new Lexer(word, env, opts);
  try {
    const { value, words } = lexer.scanUntil(EOF, opts.rawEscapes ?? false);
    return { value, words, matched: [...lexer.matched].sort(), unmatched: [...lexer.unmatched].sort() };
  } catch (e) {
    if (e instanceof SyntaxProblem) throw new ShellWordError(e.message, word);
    throw e;
  }
}

/** Internal: thrown while scanning, wrapped into ShellWordError with the whole word. */
class SyntaxProblem extends Error {}

const EOF = '';

/** Accumulates words the way the shell splits unquoted text: on whitespace, keeping quoted text whole. */
class WordSplitter {
  private buf = '';
  private inWord = false;
  readonly words: string[] = [];

  addChar(ch: string): void {
    if (isSpace(ch)) {
      if (this.inWord && this.buf.length > 0) {
        this.words.push(this.buf);
        this.buf = '';
        this.inWord = false;
      }
    } else {
      this.addRaw(ch);
    }
  }

  addRaw(s: string): void {
    this.buf += s;
    this.inWord = true;
  }

  addString(s: string): void {
    for (const ch of s) this.addChar(ch);
  }

  finish(): string[] {
    if (this.buf.length > 0) {
      this.words.push(this.buf);
      this.buf = '';
      this.inWord = false;
    }
    return this.words;
  }
}

class Lexer {
  private readonly chars: string[];
  private pos = 0;
  private readonly escape: string;
  private rawEscapes: boolean;
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();

  constructor(
    word: string,
    private readonly env: EnvLookup,
    private readonly opts: ShellWordOptions,
  ) {
    // Code points, as Go's text/scanner reads runes.
    this.chars = Array.from(word);
    this.escape = opts.escapeToken ?? '\\';
    this.rawEscapes = opts.rawEscapes ?? false;
  }

  private peek(): string {
    return this.chars[this.pos] ?? EOF;
  }

  private next(): string {
    return this.chars[this.pos++] ?? EOF;
  }

  private lookup(name: string): string | undefined {
    const v = typeof this.env === 'function' ? this.env(name) : this.env.get(name);
    if (v === undefined) this.unmatched.add(name);
    else this.matched.add(name);
    return v;
  }

  /** Scans up to `stop` (consumed) or the end of input when `stop` is EOF. */
  scanUntil(stop: string, rawEscapes: boolean): { value: string; words: string[] } {
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      let result = '';
      const words = new WordSplitter();
      const quotes = !this.opts.skipProcessQuotes;
      while (this.peek() !== EOF) {
        const ch = this.peek();
        if (stop !== EOF && ch === stop) {
          this.next();
          return { value: result, words: words.finish() };
        }
        if (ch === '$') {
          const v = this.dollar();
          result += v;
          words.addString(v);
        } else if (ch === '<') {
          const v = this.possibleHeredoc();
          result += v;
          words.addRaw(v);
        } else if (quotes && ch === "'") {
          const v = this.singleQuoted();
          result += v;
          words.addRaw(v);
        } else if (quotes && ch === '"') {
          const v = this.doubleQuoted();
          result += v;
          words.addRaw(v);
        } else {
          let c = this.next();
          if (c === this.escape) {
            if (this.rawEscapes) {
              words.addRaw(c);
              result += c;
            }
            // An escape escapes anything; a trailing one is dropped.
            c = this.next();
            if (c === EOF) break;
            words.addRaw(c);
          } else {
            words.addChar(c);
          }
          result += c;
        }
      }
      if (stop !== EOF) throw new SyntaxProblem(`unexpected end of statement while looking for matching ${stop}`);
      return { value: result, words: words.finish() };
    } finally {
      this.rawEscapes = saved;
    }
  }

  /** Everything up to the next `'` is literal; a single quote cannot be escaped inside. */
  private singleQuoted(): string {
    let result = '';
    const open = this.next();
    if (this.opts.rawQuotes) result += open;
    for (;;) {
      const c = this.next();
      if (c === EOF) throw new SyntaxProblem('unexpected end of statement while looking for matching single-quote');
      if (c === "'") {
        if (this.opts.rawQuotes) result += c;
        return result;
      }
      result += c;
    }
  }

  /** `$` expands inside double quotes; the escape only quotes `"`, `$` and itself. */
  private doubleQuoted(): string {
    let result = '';
    const open = this.next();
    if (this.opts.rawQuotes) result += open;
    for (;;) {
      const p = this.peek();
      if (p === EOF) throw new SyntaxProblem('unexpected end of statement while looking for matching double-quote');
      if (p === '"') {
        const c = this.next();
        if (this.opts.rawQuotes) result += c;
        return result;
      }
      if (p === '$') {
        result += this.dollar();
        continue;
      }
      let c = this.next();
      if (c === this.escape) {
        if (this.rawEscapes) result += c;
        const after = this.peek();
        // A trailing escape is ignored; the loop then reports the missing quote.
        if (after === EOF) continue;
        if (after === '"' || after === '$' || after === this.escape) c = this.next();
      }
      result += c;
    }
  }

  /** `<<` and the blanks after it stay together in one word, so heredoc markers survive splitting. */
  private possibleHeredoc(): string {
    this.next();
    if (this.peek() !== '<') return '<';
    this.next();
    let space = '';
    while (this.peek() === ' ' || this.peek() === '\t' || this.peek() === '\r') space += this.next();
    return `<<${space}`;
  }

  private dollar(): string {
    this.next(); // the $
    if (this.peek() !== '{') {
      const name = this.name();
      if (name === '') return '$';
      const value = this.lookup(name);
      if (value === undefined && this.opts.skipUnsetEnv) return `$${name}`;
      return value ?? '';
    }
    this.next(); // the {
    const first = this.peek();
    if (first === EOF) throw new SyntaxProblem("syntax error: missing '}'");
    if (first === '{' || first === '}' || first === ':') throw new SyntaxProblem('syntax error: bad substitution');
    const name = this.name();
    let ch = this.next();
    let op = ch;
    switch (ch) {
      case '}': {
        const value = this.lookup(name);
        if (value === undefined && this.opts.skipUnsetEnv) return `\${${name}}`;
        return value ?? '';
      }
      case '/':
        return this.substitute(name);
      case ':':
      case '+':
      case '-':
      case '?':
      case '#':
      case '%':
        break;
      default:
        throw new SyntaxProblem(`unsupported modifier (${op}) in substitution`);
    }
    // `:` makes an empty value count as unset; the operator follows it.
    const nullIsUnset = ch === ':';
    if (nullIsUnset) {
      ch = this.next();
      op += ch;
    }
    const patternOp = ch === '#' || ch === '%';
    if (nullIsUnset && patternOp) throw new SyntaxProblem(`unsupported modifier (${op}) in substitution`);
    let word: string;
    try {
      word = this.scanUntil('}', patternOp).value;
    } catch (e) {
      if (this.peek() === EOF) throw new SyntaxProblem("syntax error: missing '}'");
      throw e;
    }
    const value = this.lookup(name);
    if (value === undefined && this.opts.skipUnsetEnv) return `\${${name}${op}${word}}`;
    const unset = value === undefined || (nullIsUnset && value === '');
    switch (ch) {
      case '-':
        return unset ? word : value!;
      case '+':
        return unset ? '' : word;
      case '?':
        if (value === undefined) throw new SyntaxProblem(`${name}: ${word || 'is not allowed to be unset'}`);
        if (nullIsUnset && value === '') throw new SyntaxProblem(`${name}: ${word || 'is not allowed to be empty'}`);
        return value;
      case '#':
      case '%': {
        // One operator character removes the shortest match, two the longest.
        const greedy = word.startsWith(ch);
        const pattern = greedy ? word.slice(1) : word;
        return ch === '%' ? trimSuffix(pattern, value ?? '', greedy) : trimPrefix(pattern, value ?? '', greedy);
      }
      default:
        throw new SyntaxProblem(`unsupported modifier (${op}) in substitution`);
    }
  }

  /** `${VAR/pattern/replacement}` (first match) and `${VAR//pattern/replacement}` (all). */
  private substitute(name: string): string {
    const all = this.peek() === '/';
    if (all) this.next();
    let pattern: string;
    try {
      pattern = this.scanUntil('/', true).value;
    } catch (e) {
      if (this.peek() === EOF) throw new SyntaxProblem("syntax error: missing '/' in ${}");
      throw e;
    }
    let replacement: string;
    try {
      replacement = this.scanUntil('}', true).value;
    } catch (e) {
      if (this.peek() === EOF) throw new SyntaxProblem("syntax error: missing '}'");
      throw e;
    }
    const value = this.lookup(name);
    if (value === undefined && this.opts.skipUnsetEnv) return `\${${name}/${pattern}/${replacement}}`;
    const re = patternToRegExp(pattern, true, false);
    const v = value ?? '';
    if (all) return v.replace(new RegExp(re.source, 'gu'), (match) => goTemplate(replacement, match));
    const m = re.exec(v);
    if (!m) return v;
    return v.slice(0, m.index) + replacement + v.slice(m.index + m[0].length);
  }

  /** A variable name: letters, digits, `_`; or a run of digits (positional); or one special parameter. */
  private name(): string {
    let name = '';
    for (;;) {
      const c = this.peek();
      if (c === EOF) break;
      if (name === '' && isDigit(c)) {
        while (this.peek() !== EOF && isDigit(this.peek())) name += this.next();
        return name;
      }
      if (name === '' && SPECIAL_PARAMS.has(c)) return this.next();
      if (!isLetter(c) && !isDigit(c) && c !== '_') break;
      name += this.next();
    }
    return name;
  }
}

const SPECIAL_PARAMS = new Set(['@', '*', '#', '?', '-', '$', '!', '0']);

const LETTER = /^\p{L}$/u;
const DIGIT = /^\p{Nd}$/u;
const SPACE = /^\s$/u;

function isLetter(c: string): boolean {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c > '\x7f' && LETTER.test(c));
}

function isDigit(c: string): boolean {
  return (c >= '0' && c <= '9') || (c > '\x7f' && DIGIT.test(c));
}

/** Go's unicode.IsSpace. */
function isSpace(c: string): boolean {
  if (c === ' ' || (c >= '\t' && c <= '\r')) return true;
  if (c <= '\x7f') return false;
  return c === '\u0085' || c === '\u00a0' || (c !== '\ufeff' && SPACE.test(c));
}

/**
 * A shell pattern (`*` any string, `?` one character, `\` escapes; no brackets) as a RegExp.
 * `greedy` chooses the longest match for `*`; `anchored` matches at the start only.
 */
function patternToRegExp(pattern: string, greedy: boolean, anchored: boolean): RegExp {
  const chars = Array.from(pattern);
  let out = anchored ? '^' : '';
  // Go's `.` matches any character but a newline; JS's `.` also stops at \r and U+2028/9.
  const any = '[^\\n]';
  const star = greedy ? `${any}*` : `${any}*?`;
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === '*') out += star;
    else if (c === '?') out += any;
    else if (c === '\\') {
      const n = chars[i + 1];
      // `\}` and `\/` only kept the scanner from ending the ${}; the character itself is literal.
      if (n === '}' || n === '/') continue;
      if (n !== '*' && n !== '?' && n !== '\\') {
        throw new SyntaxProblem(`invalid pattern (${pattern}) in substitution: invalid escape '\\${n ?? ''}'`);
      }
      out += `\\${n}`;
      i++;
    } else if ('[]{}.+()|^$'.includes(c)) out += `\\${c}`;
    else out += c;
  }
  return new RegExp(out, 'u');
}

function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const m = patternToRegExp(pattern, greedy, true).exec(value);
  return m ? value.slice(m[0].length) : value;
}

/** Shortest/longest suffix: reverse both pattern and value so a prefix match finds it. */
function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  const reversed = reverse(trimPrefix(reversePattern(pattern), reverse(value), greedy));
  return reversed;
}

function reverse(s: string): string {
  return Array.from(s).reverse().join('');
}

/** Reverses a pattern keeping each `\x` escape pair in order (`a\*c` becomes `c\*a`). */
function reversePattern(pattern: string): string {
  const chars = Array.from(pattern);
  const tokens: string[] = [];
  for (let i = 0; i < chars.length; i++) {
    if (chars[i] === '\\' && i < chars.length - 1) {
      tokens.push(`\\${chars[i + 1]}`);
      i++;
    } else tokens.push(chars[i]!);
  }
  return tokens.reverse().join('');
}

/** Go's Regexp.Expand template rules for `${VAR//p/r}`: `$$` is `$`, `$0` the match, other `$name` empty. */
function goTemplate(template: string, match: string): string {
  if (!template.includes('$')) return template;
  let out = '';
  for (let i = 0; i < template.length; i++) {
    const c = template[i]!;
    if (c !== '$') {
      out += c;
      continue;
    }
    const rest = template.slice(i + 1);
    if (rest.startsWith('$')) {
      out += '$';
      i++;
      continue;
    }
    const m = /^\{([A-Za-z0-9_]+)\}/.exec(rest) ?? /^([A-Za-z0-9_]+)/.exec(rest);
    if (!m) {
      out += '$';
      continue;
    }
    if (m[1] === '0') out += match;
    i += m[0].length;
  }
  return out;
}

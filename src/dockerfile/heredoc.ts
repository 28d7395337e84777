/**
 * Which words of a RUN/COPY/ADD line open a heredoc, and the heredoc's name, chomping, expansion
 * and file descriptor, by BuildKit's rules: the line is split into shell words (quotes and
 * escapes kept, `$VAR` left as written, `<<` glued to the word after it even across spaces),
 * then each word of the form `[digits]<<[-]NAME` is a heredoc. Quoting any part of the name turns
 * expansion of the body off. Always `\` here, even with a backtick escape directive (as BuildKit).
 */
import { isSpaceCode } from './text.js';

export interface HeredocWord {
  name: string;
  expand: boolean;
  chomp: boolean;
  /** Present when digits precede `<<` (`3<<EOF`). */
  fileDescriptor?: number;
}

export class HeredocError extends Error {
  override name = 'HeredocError';
}

interface LexOptions {
  rawQuotes: boolean;
  rawEscapes: boolean;
}

/**
 * A small shell word splitter with every variable unset and kept as written: enough to find
 * heredoc words the way BuildKit's shell lexer does, errors included.
 */
class WordLexer {
  private i = 0;
  /** The word being built; shared with nested ${...} scans, as BuildKit's lexer shares it. */
  private buf = '';

  constructor(
    private readonly src: string,
    private readonly opts: LexOptions,
  ) {}

  private peek(): string | undefined {
    return this.src[this.i];
  }

  private next(): string | undefined {
    return this.src[this.i++];
  }

  words(): string[] {
    return this.scan(undefined, this.opts.rawEscapes).words;
  }

  private scan(stop: string | undefined, rawEscapes: boolean): { text: string; words: string[] } {
    let text = '';
    this.buf = '';
    let inWord = false;
    const words: string[] = [];
    const addChar = (ch: string) => {
      if (isSpaceCode(ch.charCodeAt(0))) {
        if (inWord && this.buf.length !== 0) {
          words.push(this.buf);
          this.buf = '';
          inWord = false;
        }
      } else {
        this.buf += ch;
        inWord = true;
      }
    };
    for (let ch = this.peek(); ch !== undefined; ch = this.peek()) {
      if (stop !== undefined && ch === stop) {
        this.next();
        if (this.buf.length > 0) words.push(this.buf);
        this.buf = '';
        return { text, words };
      }
      if (ch === '$') {
        const v = this.dollar();
        text += v;
        for (const c of v) addChar(c);
      } else if (ch === '<' || ch === "'" || ch === '"') {
        const v = ch === '<' ? this.possibleHeredoc() : ch === "'" ? this.singleQuote() : this.doubleQuote(rawEscapes);
        text += v;
        this.buf += v;
        inWord = true;
      } else {
        this.next();
        if (ch === '\\') {
          if (rawEscapes) {
            this.buf += ch;
            inWord = true;
            text += ch;
          }
          const escaped = this.next();
          if (escaped === undefined) break;
          this.buf += escaped;
          inWord = true;
          text += escaped;
        } else {
          addChar(ch);
          text += ch;
        }
      }
    }
    if (stop !== undefined) throw new HeredocError(`unexpected end of statement while looking for matching ${stop}`);
    if (this.buf.length > 0) words.push(this.buf);
    this.buf = '';
    return { text, words };
  }

  private singleQuote(): string {
    let out = '';
    const open = this.next()!;
    if (this.opts.rawQuotes) out += open;
    for (;;) {
      const ch = this.next();
      if (ch === undefined) throw new HeredocError('unexpected end of statement while looking for matching single-quote');
      if (ch === "'") return this.opts.rawQuotes ? out + ch : out;
      out += ch;
    }
  }

  private doubleQuote(rawEscapes: boolean): string {
    let out = '';
    const open = this.next()!;
    if (this.opts.rawQuotes) out += open;
    for (;;) {
      const peek = this.peek();
      if (peek === undefined) throw new HeredocError('unexpected end of statement while looking for matching double-quote');
      if (peek === '"') {
        this.next();
        return this.opts.rawQuotes ? out + peek : out;
      }
      if (peek === '$') {
        out += this.dollar();
        continue;
      }
      let ch = this.next()!;
      if (ch === '\\') {
        if (rawEscapes) out += ch;
        const after = this.peek();
        if (after === undefined) continue;
        if (after === '"' || after === '$' || after === '\\') ch = this.next()!;
      }
      out += ch;
    }
  }

  private name(): string {
    let name = '';
    for (let ch = this.peek(); ch !== undefined; ch = this.peek()) {
      if (name === '' && ch >= '0' && ch <= '9') {
        while (this.peek() !== undefined && /[0-9]/.test(this.peek()!)) name += this.next();
        return name;
      }
      if (name === '' && '@*#?-$!0'.includes(ch)) return this.next()!;
      if (!/^[\p{L}\p{Nd}_]$/u.test(ch)) break;
      name += this.next();
    }
    return name;
  }

  /** `$x`, `${x}`, `${x:-w}`... with x unset and kept: the text as written, words normalised. */
  private dollar(): string {
    this.next();
    if (this.peek() !== '{') {
      const name = this.name();
      return name === '' ? '$' : `$${name}`;
    }
    this.next();
    const first = this.peek();
    if (first === undefined) throw new HeredocError("syntax error: missing '}'");
    if (first === '{' || first === '}' || first === ':') throw new HeredocError('syntax error: bad substitution');
    const name = this.name();
    let ch = this.next();
    let modifier = ch ?? '';
    switch (ch) {
      case '}':
        return `\${${name}}`;
      case ':':
      case '+':
      case '-':
      case '?':
      case '#':
      case '%': {
        let nullIsUnset = false;
        if (ch === ':') {
          nullIsUnset = true;
          ch = this.next();
          modifier += ch ?? '';
        }
        const raw = ch === '#' || ch === '%';
        if (nullIsUnset && raw) throw new HeredocError(`unsupported modifier (${modifier}) in substitution`);
        const word = this.nested('}', raw, "syntax error: missing '}'");
        return `\${${name}${modifier}${word}}`;
      }
      case '/': {
        if (this.peek() === '/') this.next();
        const pattern = this.nested('/', true, "syntax error: missing '/' in ${}");
        const replacement = this.nested('}', true, "syntax error: missing '}'");
        return `\${${name}/${pattern}/${replacement}}`;
      }
      default:
        throw new HeredocError(`unsupported modifier (${modifier}) in substitution`);
    }
  }

  private nested(stop: string, rawEscapes: boolean, atEnd: string): string {
    try {
      return this.scan(stop, rawEscapes).text;
    } catch (e) {
      if (this.peek() === undefined) throw new HeredocError(atEnd);
      throw e;
    }
  }

  private possibleHeredoc(): string {
    this.next();
    if (this.peek() !== '<') return '<';
    this.next();
    let space = '';
    for (let ch = this.peek(); ch !== undefined && isShellSpace(ch); ch = this.peek()) space += this.next();
    return `<<${space}`;
  }
}

/** text/scanner's whitespace test in BuildKit's lexer (isWhitespace): space, tab, newline. */
function isShellSpace(ch: string): boolean {
  return ch === ' ' || ch === '\t' || ch === '\n';
}

function shellWords(src: string, opts: LexOptions): string[] {
  try {
    return new WordLexer(src, opts).words();
  } catch (e) {
    if (e instanceof HeredocError) throw new HeredocError(`failed to process ${JSON.stringify(src)}: ${e.message}`);
    throw e;
  }
}

const heredocWord = /^(\d*)<<(-?)[\t\n\f\r ]*([^<]*)$/;

/** The heredoc a single word opens, or null. Throws HeredocError for an unterminated quote. */
export function parseHeredocWord(word: string): HeredocWord | null {
  const m = heredocWord.exec(word);
  if (!m) return null;
  const rest = m[3]!;
  if (rest === '') return null;
  const words = shellWords(rest, { rawQuotes: false, rawEscapes: false });
  if (words.length !== 1) return null;
  const raw = shellWords(rest, { rawQuotes: true, rawEscapes: false });
  if (raw.length !== words.length) throw new HeredocError(`internal lexing of heredoc produced inconsistent results: ${rest}`);
  const quotes = (s: string) => {
    let n = 0;
    for (const c of s) if (c === '"' || c === "'") n++;
    return n;
  };
  const out: HeredocWord = { name: words[0]!, expand: quotes(words[0]!) === quotes(raw[0]!), chomp: m[2] === '-' };
  if (m[1] !== '') out.fileDescriptor = Number.parseInt(m[1]!, 10);
  return out;
}

/** The heredocs a whole instruction line opens, in order. */
export function heredocsFromLine(line: string): HeredocWord[] {
  let words: string[];
  try {
    words = shellWords(line, { rawQuotes: true, rawEscapes: true });
  } catch (e) {
    // BuildKit ignores a line it cannot split here: it then opens no heredoc.
    if (e instanceof HeredocError) return [];
    throw e;
  }
  const docs: HeredocWord[] = [];
  for (const word of words) {
    const doc = parseHeredocWord(word);
    if (doc) docs.push(doc);
  }
  return docs;
}

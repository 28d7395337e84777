/**
 * The moo lexer for one logical instruction line (continuations already joined): the keyword,
 * the `--flag` words that follow it, and the rest. The grammar (grammar/dockerfile.ne) gives the
 * token stream its structure; the per-instruction argument rules live in line-arguments.ts.
 *
 * The word rules are BuildKit's (extractBuilderFlags): a flag word starts with `--`, may hold
 * quoted parts (with spaces), and the escape token escapes the next character, inside quotes too.
 * An unterminated quote runs to the end of the line. The escape token is `\` or, with the escape
 * directive, a backtick, hence one lexer per token.
 */
import moo from 'moo';

export type EscapeToken = '\\' | '`';

/** Whitespace as Go's regexp `[\t\v\f\r ]` that BuildKit splits the keyword off with. */
const GAP = '\\t\\v\\f\\r ';
/** Whitespace between flag words (unicode.IsSpace on ASCII). A logical line never holds a newline. */
const SPACE = '\\t\\v\\f\\r ';

function build(escape: EscapeToken): moo.Lexer {
  const e = escape === '\\' ? '\\\\' : '`';
  const flagWord = new RegExp(`--(?:[^\\n${SPACE}"'${e}]|${e}[^\\n]?|"(?:[^\\n"${e}]|${e}[^\\n]?)*"?|'(?:[^\\n'${e}]|${e}[^\\n]?)*'?)*`);
  return moo.states({
    keyword: {
      keyword: { match: new RegExp(`[^\\n${GAP}]+`), next: 'gap' },
    },
    gap: {
      gap: { match: new RegExp(`[${GAP}]+`), next: 'flags' },
    },
    flags: {
      space: new RegExp(`[${SPACE}]+`),
      flag: flagWord,
      rest: { match: /[^\n]+/, next: 'rest' },
    },
    rest: {
      rest: /[^\n]+/,
    },
  });
}

const lexers: Record<EscapeToken, moo.Lexer> = { '\\': build('\\'), '`': build('`') };

/** The lexer for the escape token. Parsing is synchronous, so one instance each is enough. */
export function instructionLexer(escape: EscapeToken): moo.Lexer {
  return lexers[escape];
}

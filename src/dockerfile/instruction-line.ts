/**
 * Splits one logical instruction line into keyword, flags and the rest, as BuildKit's
 * splitCommand/extractBuilderFlags do: moo tokenizes, the nearley grammar gives the structure.
 */
import nearley from 'nearley';
import type { Token } from 'moo';
import compiled from './generated/dockerfile.js';
import { instructionLexer, type EscapeToken } from './lexer.js';
import { trimLeftSpace, trimRightSpace, trimSpace } from './text.js';

/** A `--flag` word: its text as written, its value with quotes and escapes resolved, its offset. */
export interface FlagWord {
  raw: string;
  value: string;
  /** Offset of the word in the logical line. */
  offset: number;
}

export interface InstructionLine {
  keyword: string;
  /** Offset of the keyword in the logical line. */
  keywordOffset: number;
  flags: FlagWord[];
  /** The arguments after the flags, trimmed ("" when none). */
  rest: string;
  /** Offset of `rest` in the logical line (the line's length when there is none). */
  restOffset: number;
}

/** What the grammar returns: the tokens in their roles (flags as a reversed cons list). */
interface Parsed {
  keyword: Token;
  flags: FlagList | null;
  rest: Token | null;
}
interface FlagList {
  head: Token;
  tail: FlagList | null;
}

/** Where each role sits in the token array: the same for every line of the same shape. */
interface Plan {
  flags: number[];
  rest: number;
}

/**
 * Feeds nearley the tokens moo already produced, with their index in place of their text, so a
 * parse yields a Plan. nearley asks a lexer for reset/next/save/formatError/has.
 */
class TokenReplay {
  private tokens: Token[] = [];
  private at = 0;
  reset(): void {
    this.at = 0;
  }
  load(tokens: Token[]): void {
    this.tokens = tokens;
    this.at = 0;
  }
  next(): Token | undefined {
    const t = this.tokens[this.at];
    if (t === undefined) return undefined;
    return { ...t, value: String(this.at++) };
  }
  save(): object {
    return {};
  }
  formatError(token: Token): string {
    return `unexpected ${token.type} token`;
  }
  has(): boolean {
    return true;
  }
}

const replay = new TokenReplay();
const grammar = nearley.Grammar.fromCompiled({ ...compiled, Lexer: replay } as unknown as nearley.CompiledRules);

/**
 * nearley is exact but costs microseconds per token, and a Dockerfile has few distinct line
 * shapes (keyword, gap, flag, space, rest...). The grammar is context-free over token types, so
 * its parse of a shape holds for every line of that shape: parse each shape once, remember it.
 * Total parsing work stays linear in the input (a shape is only parsed when first met).
 */
const plans = new Map<string, Plan>();
const MAX_PLANS = 4096;

function planFor(tokens: Token[]): Plan {
  let shape = '';
  for (const t of tokens) shape += t.type === 'flag' ? 'f' : t.type === 'space' ? 's' : t.type === 'rest' ? 'r' : t.type === 'gap' ? 'g' : 'k';
  const known = plans.get(shape);
  if (known) return known;
  replay.load(tokens);
  const parser = new nearley.Parser(grammar);
  parser.feed('');
  const results = parser.results as Parsed[];
  if (results.length !== 1) throw new Error(`internal: the instruction grammar found ${results.length} parses for shape ${shape}`);
  const result = results[0]!;
  const flags: number[] = [];
  for (let f = result.flags; f; f = f.tail) flags.push(Number(f.head.value));
  flags.reverse();
  const plan = { flags, rest: result.rest ? Number(result.rest.value) : -1 };
  if (plans.size >= MAX_PLANS) plans.clear();
  plans.set(shape, plan);
  return plan;
}

/** The value of a flag word: quotes removed, escapes resolved (BuildKit's extractBuilderFlags). */
export function flagValue(raw: string, escape: EscapeToken): string {
  if (raw.indexOf(escape) < 0 && raw.indexOf('"') < 0 && raw.indexOf("'") < 0) return raw;
  let out = '';
  let quote = '';
  const n = raw.length;
  for (let i = 0; i < n; i++) {
    let ch = raw[i]!;
    if (quote === '') {
      if (ch === '"' || ch === "'") {
        quote = ch;
        continue;
      }
    } else if (ch === quote) {
      quote = '';
      continue;
    }
    if (ch === escape) {
      if (i + 1 === n) {
        quote = '';
        continue;
      }
      ch = raw[++i]!;
    }
    out += ch;
  }
  return out;
}

/**
 * `line` is the joined logical line. Leading and trailing whitespace are ignored. Returns null
 * for a line with no keyword (only whitespace), which callers never pass.
 */
export function splitInstructionLine(line: string, escape: EscapeToken): InstructionLine | null {
  const lead = line.length - trimLeftSpace(line).length;
  const trimmed = trimRightSpace(line.slice(lead));
  if (trimmed === '') return null;
  const lexer = instructionLexer(escape);
  lexer.reset(trimmed);
  const tokens: Token[] = [];
  for (let t = lexer.next(); t; t = lexer.next()) tokens.push(t);
  const plan = planFor(tokens);
  const restToken = plan.rest >= 0 ? tokens[plan.rest]! : null;
  const flags: FlagWord[] = [];
  let rest = restToken ? restToken.text : '';
  let restOffset = restToken ? restToken.offset : trimmed.length;
  for (const index of plan.flags) {
    const token = tokens[index]!;
    const value = flagValue(token.text, escape);
    // A word that reads `--` (even as `--""`) ends the flags: what follows is arguments.
    if (value === '--') {
      restOffset = token.offset + token.text.length;
      rest = trimmed.slice(restOffset);
      break;
    }
    flags.push({ raw: token.text, value, offset: lead + token.offset });
  }
  const restTrimmed = trimSpace(rest);
  if (restTrimmed !== '') restOffset += rest.indexOf(restTrimmed);
  else restOffset = trimmed.length;
  return { keyword: tokens[0]!.text, keywordOffset: lead, flags, rest: restTrimmed, restOffset: lead + restOffset };
}

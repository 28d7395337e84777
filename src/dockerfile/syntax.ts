/**
 * The untyped layer, BuildKit's parser.Parse: physical lines to logical instructions. Directives
 * at the top, the escape token, continuation lines (with comment and blank lines inside them),
 * CRLF, a BOM, heredoc bodies; then each logical line split into keyword, flags and arguments.
 * Nothing here knows what an instruction means: unknown keywords and flags pass (the typed layer,
 * instructions.ts, rejects them), which is what BuildKit's own parser test dump expects.
 */
import type { Directive, Heredoc, Position, SourceRange, Warning } from './ast.js';
import { DirectiveError, DirectiveParser } from './directives.js';
import { syntaxError, excerptOf } from './errors.js';
import { HeredocError, heredocsFromLine } from './heredoc.js';
import { splitInstructionLine, type FlagWord } from './instruction-line.js';
import type { EscapeToken } from './lexer.js';
import { ArgumentError, lineArguments } from './line-arguments.js';
import { isSpaceCode } from './text.js';

/** One instruction as BuildKit's parser sees it (its Node). */
export interface SyntaxNode {
  keyword: string;
  /** Leading `--flag` words; offsets are in the top-level logical line. */
  flags: FlagWord[];
  /** The argument words (BuildKit's Next chain). Empty for ONBUILD, which has `child`. */
  args: string[];
  /** The arguments were a JSON array. */
  json: boolean;
  /** ONBUILD's trigger; null for other instructions or a bare ONBUILD. */
  child: SyntaxNode | null;
  heredocs: Heredoc[];
  /** The logical line, continuations joined (BuildKit's Original). */
  line: string;
  /** Offset of this node's keyword and of its arguments in the top-level logical line. */
  keywordOffset: number;
  restOffset: number;
}

/** A top-level instruction with its place in the file. */
export interface SyntaxInstruction extends SyntaxNode {
  /** The source as written: from the keyword to the end of the last line, heredoc bodies included. */
  source: string;
  range: SourceRange;
  /** Maps offsets of `line` to file positions: [offset, line, column] per joined physical line. */
  segments: number[];
}

export interface SyntaxTree {
  file: string;
  directives: Directive[];
  escapeToken: EscapeToken;
  instructions: SyntaxInstruction[];
  warnings: Warning[];
}

export interface SyntaxOptions {
  file?: string;
  /** The escape token in effect at the start (a fragment parsed after its file's directives). */
  escapeToken?: EscapeToken;
}

/** bufio.Scanner's limit, which BuildKit inherits: a longer physical line is an error. */
const MAX_LINE_BYTES = 64 * 1024;

/** The position of `offset` in an instruction's logical line. */
export function positionAt(instruction: SyntaxInstruction, offset: number): Position {
  const s = instruction.segments;
  let k = 0;
  for (let j = 3; j < s.length && s[j]! <= offset; j += 3) k = j;
  return { line: s[k + 1]!, column: s[k + 2]! + (offset - s[k]!) };
}

const noRange: SourceRange = { start: { line: 0, column: 0 }, end: { line: 0, column: 0 } };

/** Every node has the SyntaxInstruction fields (one object shape); only top-level ones fill them. */
function nodeFromLine(line: string, escape: EscapeToken, base: number): SyntaxInstruction {
  const split = splitInstructionLine(line, escape);
  if (!split) throw new ArgumentError('empty instruction');
  const flags = base === 0 ? split.flags : split.flags.map((f) => ({ raw: f.raw, value: f.value, offset: f.offset + base }));
  const node: SyntaxInstruction = {
    keyword: split.keyword,
    flags,
    args: [],
    json: false,
    child: null,
    heredocs: [],
    line,
    keywordOffset: base + split.keywordOffset,
    restOffset: base + split.restOffset,
    source: '',
    range: noRange,
    segments: [],
  };
  if (split.keyword.toLowerCase() === 'onbuild') {
    if (split.rest !== '') node.child = nodeFromLine(split.rest, escape, base + split.restOffset);
  } else {
    const a = lineArguments(split.keyword, split.rest, escape);
    node.args = a.args;
    node.json = a.json;
  }
  return node;
}

function canContainHeredoc(node: SyntaxNode): boolean {
  const n = node.child && node.keyword.toLowerCase() === 'onbuild' ? node.child : node;
  const k = n.keyword.toLowerCase();
  return (k === 'run' || k === 'copy' || k === 'add') && !n.json;
}

/** Go's bytes.TrimRight(line, "\r\n"). */
function trimNewline(raw: string): string {
  let j = raw.length;
  for (let c = raw.charCodeAt(j - 1); c === 0x0a || c === 0x0d; c = raw.charCodeAt(j - 1)) j--;
  return j === raw.length ? raw : raw.slice(0, j);
}

function leadingSpace(s: string): number {
  let i = 0;
  while (i < s.length && isSpaceCode(s.charCodeAt(i))) i++;
  return i;
}

/**
 * The continuation test: the last non-blank character is the escape token, and the one before it
 * is not. Returns the line without the token and the blanks after it, or null when the line ends.
 */
function continued(line: string, escape: number): string | null {
  let j = line.length - 1;
  while (j >= 0 && (line.charCodeAt(j) === 0x20 || line.charCodeAt(j) === 0x09)) j--;
  if (j < 0 || line.charCodeAt(j) !== escape) return null;
  if (j > 0 && line.charCodeAt(j - 1) === escape) return null;
  return line.slice(0, j);
}

function utf8Length(s: string): number {
  return s.length * 3 < MAX_LINE_BYTES ? s.length : Buffer.byteLength(s, 'utf8');
}

export function parseSyntax(text: string, options: SyntaxOptions = {}): SyntaxTree {
  const file = options.file ?? 'Dockerfile';
  let escape: EscapeToken = options.escapeToken ?? '\\';
  let escapeCode = escape.charCodeAt(0);
  const directives: Directive[] = [];
  const warnings: Warning[] = [];
  const instructions: SyntaxInstruction[] = [];
  const directiveParser = new DirectiveParser();

  const n = text.length;
  let pos = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let lineNo = 0;
  /** Offset where the current physical line starts, and its raw text (with the newline). */
  let lineStart = 0;
  let raw = '';

  const next = (): boolean => {
    if (pos >= n) return false;
    const nl = text.indexOf('\n', pos);
    const end = nl < 0 ? n : nl + 1;
    lineStart = pos;
    raw = text.slice(pos, end);
    pos = end;
    lineNo++;
    if (raw.length * 3 >= MAX_LINE_BYTES) {
      const bytes = utf8Length(raw);
      if (bytes > MAX_LINE_BYTES || (nl < 0 && bytes >= MAX_LINE_BYTES)) {
        throw syntaxError(file, lineNo, 1, `dockerfile line greater than max allowed size of ${MAX_LINE_BYTES - 1}`);
      }
    }
    return true;
  };
  /** Column of an offset in the physical line starting at `start`: 1-based (a BOM is not counted). */
  const columnOf = (offset: number, start: number) => offset - start + 1;

  while (next()) {
    const physical = trimNewline(raw);
    const lead = leadingSpace(physical);
    const trimmed = lead === 0 ? physical : physical.slice(lead);
    let directive: { name: string; value: string } | null;
    try {
      directive = directiveParser.parseLine(trimmed);
    } catch (e) {
      if (e instanceof DirectiveError) throw syntaxError(file, lineNo, 1, e.message, excerptOf(trimmed));
      throw e;
    }
    if (directive) {
      const range = { start: { line: lineNo, column: columnOf(lineStart + lead, lineStart) }, end: { line: lineNo, column: columnOf(lineStart + physical.length, lineStart) } };
      if (directive.name === 'escape') {
        if (directive.value !== '`' && directive.value !== '\\') {
          throw syntaxError(file, lineNo, 1, `invalid escape token '${directive.value}' does not match \` or \\`, excerptOf(trimmed));
        }
        escape = directive.value;
        escapeCode = escape.charCodeAt(0);
      }
      directives.push({ name: directive.name, value: directive.value, range });
      continue;
    }
    if (trimmed.charCodeAt(0) === 0x23 /* # */) continue;
    const first = continued(trimmed, escapeCode);
    if (first === null && trimmed.length === 0) continue;

    const startLine = lineNo;
    const startOffset = lineStart + lead;
    const startColumn = columnOf(startOffset, lineStart);
    let line = first ?? trimmed;
    const segments = [0, startLine, startColumn];
    let ended = first === null;
    let emptyContinuation = false;
    let endOffset = lineStart + physical.length;
    let endLineStart = lineStart;
    while (!ended && next()) {
      const l = trimNewline(raw);
      const ls = leadingSpace(l);
      if (ls === l.length) {
        emptyContinuation = true;
        continue;
      }
      if (l.charCodeAt(ls) === 0x23) continue;
      const c = continued(l, escapeCode);
      segments.push(line.length, lineNo, 1);
      line += c ?? l;
      ended = c === null;
      endOffset = lineStart + l.length;
      endLineStart = lineStart;
    }
    let endLine = segments[segments.length - 2]!;

    let node: SyntaxInstruction;
    try {
      node = nodeFromLine(line, escape, 0);
      if (canContainHeredoc(node) && line.includes('<<')) {
        for (const doc of heredocsFromLine(line)) {
          let content = '';
          let terminated = false;
          while (next()) {
            let candidate = trimNewline(raw);
            if (doc.chomp) {
              let t = 0;
              while (candidate.charCodeAt(t) === 0x09) t++;
              if (t > 0) candidate = candidate.slice(t);
            }
            if (candidate === doc.name) {
              terminated = true;
              break;
            }
            content += raw;
          }
          if (!terminated) throw new HeredocError(`unterminated heredoc ${doc.name}`);
          const heredoc: Heredoc = { name: doc.name, content, expand: doc.expand, chomp: doc.chomp };
          if (doc.fileDescriptor !== undefined) heredoc.fileDescriptor = doc.fileDescriptor;
          node.heredocs.push(heredoc);
          endLine = lineNo;
          endLineStart = lineStart;
          endOffset = lineStart + trimNewline(raw).length;
        }
      }
    } catch (e) {
      if (e instanceof ArgumentError || e instanceof HeredocError) {
        throw syntaxError(file, startLine, startColumn, e.message, excerptOf(line));
      }
      throw e;
    }

    const range: SourceRange = { start: { line: startLine, column: startColumn }, end: { line: endLine, column: columnOf(endOffset, endLineStart) } };
    if (emptyContinuation) {
      warnings.push({
        rule: 'NoEmptyContinuation',
        message: `Empty continuation line found in: ${line}`,
        range,
      });
    }
    node.source = text.slice(startOffset, endOffset);
    node.range = range;
    node.segments = segments;
    instructions.push(node);
  }

  if (instructions.length === 0) throw syntaxError(file, Math.max(lineNo, 1), 1, 'file with no instructions');
  return { file, directives, escapeToken: escape, instructions, warnings };
}

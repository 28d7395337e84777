/**
 * parse(text) -> Dockerfile: the untyped layer (syntax.ts: lines, directives, continuations,
 * heredocs; moo + nearley per instruction line) then the typed layer (instructions.ts).
 */
import type { Dockerfile, Instruction } from './ast.js';
import { toInstruction } from './instructions.js';
import { parseSyntax, type SyntaxInstruction } from './syntax.js';

export { DockerfileError } from './ast.js';

export interface ParseOptions {
  /** The path shown in messages; `Dockerfile` by default. */
  file?: string;
}

/** Parses a Dockerfile; throws DockerfileError (file, line, column, reason) on invalid input. */
export function parse(text: string, options: ParseOptions = {}): Dockerfile {
  const tree = parseSyntax(text, { file: options.file ?? 'Dockerfile' });
  const warnings = tree.warnings.slice();
  const instructions: Instruction[] = tree.instructions.map((node) => toInstruction(node, tree.file, warnings));
  const df: Dockerfile = { file: tree.file, directives: tree.directives, escapeToken: tree.escapeToken, instructions, warnings };
  // The untyped nodes ride along, hidden from JSON and deep equality, for the BuildKit dump.
  Object.defineProperty(df, syntaxNodes, { value: { instructions, nodes: tree.instructions }, enumerable: false });
  return df;
}

const syntaxNodes = Symbol('syntaxNodes');

/** The untyped node an instruction of `df` was made from, when parse() made both and df is unchanged. */
export function syntaxNodeOf(df: Dockerfile, index: number): SyntaxInstruction | undefined {
  const kept = (df as unknown as Record<symbol, { instructions: Instruction[]; nodes: SyntaxInstruction[] } | undefined>)[syntaxNodes];
  if (!kept || kept.instructions !== df.instructions || df.instructions[index] === undefined) return undefined;
  return kept.nodes[index];
}

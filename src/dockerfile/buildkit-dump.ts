/**
 * BuildKit's parser test dump (its Node.Dump): one `(keyword ...)` line per instruction, the
 * keyword lower-cased, flags as a Go `%q` list, each argument Go-quoted, ONBUILD's trigger nested.
 * Heredoc bodies, comments and directives never appear. BuildKit's `result` files are this text
 * plus a final newline.
 */
import type { Dockerfile } from './ast.js';
import { goQuote } from './go-quote.js';
import { syntaxNodeOf } from './parser.js';
import { parseSyntax, type SyntaxNode, type SyntaxTree } from './syntax.js';

function dumpNode(node: SyntaxNode): string {
  let out = node.keyword.toLowerCase();
  if (node.flags.length > 0) out += ` [${node.flags.map((f) => goQuote(f.value)).join(' ')}]`;
  if (node.child) out += ` (${dumpNode(node.child)})`;
  for (const arg of node.args) out += ` ${goQuote(arg)}`;
  return out;
}

function isSyntaxTree(x: Dockerfile | SyntaxTree): x is SyntaxTree {
  return x.instructions.length > 0 && 'segments' in x.instructions[0]!;
}

/**
 * The dump of a parsed Dockerfile (typed AST, or the untyped tree of parseSyntax for files the
 * typed layer rejects, as BuildKit's dumper does). No trailing newline.
 */
export function dumpBuildkit(df: Dockerfile | SyntaxTree): string {
  if (isSyntaxTree(df)) return df.instructions.map((n) => `(${dumpNode(n)})`).join('\n');
  return df.instructions
    .map((instruction, index) => {
      const node = syntaxNodeOf(df, index) ?? parseSyntax(instruction.original, { file: df.file, escapeToken: df.escapeToken }).instructions[0]!;
      return `(${dumpNode(node)})`;
    })
    .join('\n');
}

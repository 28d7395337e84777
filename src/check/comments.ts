/**
 * The comment lines just above each instruction (BuildKit's Node.PrevComment), which may carry a
 * per-instruction `# check=...`. The AST drops comments, so they are read back from the text by line
 * number: every comment line after the previous instruction, a bare `#` starting over, the file's
 * parser directives excluded.
 */
import type { Dockerfile, Instruction } from '../dockerfile/ast.js';

export function precedingComments(text: string, df: Dockerfile): Map<Instruction, string[]> {
  const lines = text.split('\n');
  if (lines[0]?.charCodeAt(0) === 0xfeff) lines[0] = lines[0].slice(1);
  const directiveLines = new Set(df.directives.map((d) => d.range.start.line));
  const out = new Map<Instruction, string[]>();
  let after = 0; // last line of the previous instruction
  for (const ins of df.instructions) {
    let comments: string[] = [];
    for (let n = after + 1; n < ins.range.start.line; n++) {
      if (directiveLines.has(n)) continue;
      const line = (lines[n - 1] ?? '').replace(/\r$/, '').trimStart();
      if (!line.startsWith('#')) continue;
      const comment = line.slice(1).trim();
      if (comment === '') comments = [];
      else comments.push(comment);
    }
    if (comments.length > 0) out.set(ins, comments);
    after = ins.range.end.line;
  }
  return out;
}

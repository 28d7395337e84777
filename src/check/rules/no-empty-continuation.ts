import type { Instruction } from '../../dockerfile/ast.js';
import type { Rule } from '../rule.js';
import { parserWarnings } from './helpers.js';

/**
 * A blank line inside a `\` continuation. Only the parser sees it. BuildKit places it on the
 * instruction's last line (before any heredoc body), where its parser is when it notices.
 */
export const noEmptyContinuation: Rule = {
  name: 'NoEmptyContinuation',
  description: 'Empty continuation lines will become errors in a future release',
  fileWide: true,
  check(ctx, report) {
    for (const { at } of parserWarnings(ctx, 'NoEmptyContinuation')) {
      report({ message: 'Empty continuation line', at, position: { line: lastLogicalLine(at), column: 1 } });
    }
  },
};

function lastLogicalLine(ins: Instruction): number {
  const heredocs = 'heredocs' in ins ? ins.heredocs : [];
  let line = ins.range.end.line;
  // Each heredoc body takes its lines plus the closing delimiter line.
  for (const h of heredocs) line -= h.content.split('\n').length;
  return Math.max(line, ins.range.start.line);
}

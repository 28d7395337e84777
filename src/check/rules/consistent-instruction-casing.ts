import type { Instruction } from '../../dockerfile/ast.js';
import type { Rule } from '../rule.js';

/**
 * Every keyword all lower or all upper case, as most keywords of the file are. Counts the FROMs and
 * the stages' instructions (not the global ARGs, not ONBUILD triggers), as BuildKit does; a tie
 * means upper case.
 */
export const consistentInstructionCasing: Rule = {
  name: 'ConsistentInstructionCasing',
  description: 'All commands within the Dockerfile should use the same casing (either upper or lower)',
  fileWide: true,
  check(ctx, report) {
    const all: Instruction[] = ctx.stages.flatMap((s) => [s.from, ...s.instructions]);
    let lower = 0;
    let upper = 0;
    for (const ins of all) {
      const k = ins.keyword;
      if (k === k.toLowerCase()) lower++;
      else if (k === k.toUpperCase()) upper++;
    }
    const majorityLower = lower > upper;
    for (const ins of all) {
      const k = ins.keyword;
      const wrong = majorityLower ? k !== k.toLowerCase() : k !== k.toUpperCase();
      if (wrong) report({ message: `Command '${k}' should match the case of the command majority (${majorityLower ? 'lowercase' : 'uppercase'})`, at: ins });
    }
  },
};

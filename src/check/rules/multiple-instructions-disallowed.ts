import type { Instruction } from '../../dockerfile/ast.js';
import type { Rule } from '../rule.js';

/**
 * A second CMD, ENTRYPOINT or HEALTHCHECK in one stage: only the last counts. Reported at the one that
 * is overridden, as BuildKit does, under the `# check=` comments of the one that overrides it.
 */
export const multipleInstructionsDisallowed: Rule = {
  name: 'MultipleInstructionsDisallowed',
  description: 'Multiple instructions of the same type should not be used in the same stage',
  check(ctx, report) {
    for (const stage of ctx.stages) {
      if (!stage.checked) continue;
      const last = new Map<string, Instruction>();
      for (const ins of stage.instructions) {
        if (ins.kind !== 'CMD' && ins.kind !== 'ENTRYPOINT' && ins.kind !== 'HEALTHCHECK') continue;
        const previous = last.get(ins.kind);
        if (previous) {
          report({
            message: `Multiple ${ins.keyword} instructions should not be used in the same stage because only the last one will be used`,
            at: ins,
            position: previous.range.start,
          });
        }
        last.set(ins.kind, ins);
      }
    }
  },
};

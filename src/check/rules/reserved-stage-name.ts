import type { Rule } from '../rule.js';

/** `scratch` and `context` already mean something in FROM and `--from`. */
const RESERVED = new Set(['context', 'scratch']);

export const reservedStageName: Rule = {
  name: 'ReservedStageName',
  description: 'Reserved words should not be used as stage names',
  fileWide: true,
  check(ctx, report) {
    for (const s of ctx.stages) {
      if (s.name !== undefined && RESERVED.has(s.name)) {
        report({ message: `Stage name should not use the same name as reserved stage ${JSON.stringify(s.name)}`, at: s.from });
      }
    }
  },
};

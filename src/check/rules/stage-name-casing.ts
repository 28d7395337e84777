import type { Rule } from '../rule.js';
import { parserWarnings } from './helpers.js';

/** `FROM x AS Build`: stage names are matched case-insensitively, so mixed case misleads. The parser spots it. */
export const stageNameCasing: Rule = {
  name: 'StageNameCasing',
  description: 'Stage names should be lowercase',
  check(ctx, report) {
    for (const { warning, at } of parserWarnings(ctx, 'StageNameCasing')) report({ message: warning.message, at });
  },
};

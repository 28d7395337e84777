import type { Rule } from '../rule.js';
import { parserWarnings } from './helpers.js';

/** `FROM x as y` (or `from x AS y`): the parser compares the two keywords' casing. */
export const fromAsCasing: Rule = {
  name: 'FromAsCasing',
  description: "The 'as' keyword should match the case of the 'from' keyword",
  check(ctx, report) {
    for (const { warning, at } of parserWarnings(ctx, 'FromAsCasing')) report({ message: warning.message, at });
  },
};

import type { Rule } from '../rule.js';
import { parserWarnings, stageOf } from './helpers.js';

/** `ENV key value` / `LABEL key value`: one pair per line only, and ambiguous. The parser sees the missing `=`. */
export const legacyKeyValueFormat: Rule = {
  name: 'LegacyKeyValueFormat',
  description: 'Legacy key/value format with whitespace separator should not be used',
  check(ctx, report) {
    for (const { at } of parserWarnings(ctx, 'LegacyKeyValueFormat')) {
      if (stageOf(ctx, at)?.checked === false) continue;
      report({ message: `"${at.keyword} key=value" should be used instead of legacy "${at.keyword} key value" format`, at });
    }
  },
};

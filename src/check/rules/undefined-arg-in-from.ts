import type { Rule } from '../rule.js';
import { suggestName } from '../suggest.js';

/**
 * A variable in FROM (image or --platform) that no global ARG declares and that is not predefined:
 * FROM only sees ARGs declared before the first FROM, so a stage ARG or a typo expands to nothing.
 */
export const undefinedArgInFrom: Rule = {
  name: 'UndefinedArgInFrom',
  description: 'FROM command must use declared ARGs',
  check(ctx, report) {
    const env = ctx.globals.values;
    if (!env) return;
    const known = new Set([...ctx.globals.declared, ...env.keys()]);
    for (const stage of ctx.stages) {
      const words = [stage.from.image, ...stage.from.flags.filter((f) => f.name.toLowerCase() === 'platform' && f.value !== null).map((f) => f.value!)];
      for (const word of words) {
        const r = ctx.expand(word, env);
        if (!r) continue;
        for (const name of r.unmatched) {
          if (known.has(name)) continue;
          const hint = suggestName(name, known);
          report({ message: `FROM argument '${name}' is not declared${hint ? ` (did you mean ${hint}?)` : ''}`, at: stage.from });
        }
      }
    }
  },
};

import type { Rule } from '../rule.js';
import { platformFlag } from './platform-flag.js';

/** `FROM --platform=$TARGETPLATFORM`: that is already what a stage is built for. */
export const redundantTargetPlatform: Rule = {
  name: 'RedundantTargetPlatform',
  description: 'Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior',
  check(ctx, report) {
    const env = ctx.globals.values;
    if (!env) return;
    for (const stage of ctx.stages) {
      const flag = platformFlag(stage.from);
      if (!flag) continue;
      const r = ctx.expand(flag.value!, env);
      // Only a word that is exactly the variable: another (even empty) variable beside it changes the meaning.
      if (!r || r.unmatched.length > 0 || r.matched.length !== 1 || r.matched[0] !== 'TARGETPLATFORM') continue;
      if (r.value !== env.get('TARGETPLATFORM')) continue;
      report({
        message: `Setting platform to predefined ${flag.value} in FROM is redundant as this is the default behavior`,
        at: stage.from,
        position: flag.range.start,
      });
    }
  },
};

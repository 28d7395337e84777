import type { Rule } from '../rule.js';
import { parseLenientPlatform, platformFlag } from './platform-flag.js';

/**
 * `FROM --platform=linux/amd64 ...`: a constant pins the stage and defeats multi-platform builds.
 * Allowed when the stage's name says so (`AS build-amd64`), as BuildKit allows it.
 */
export const fromPlatformFlagConstDisallowed: Rule = {
  name: 'FromPlatformFlagConstDisallowed',
  description: 'FROM --platform flag should not use a constant value',
  check(ctx, report) {
    const env = ctx.globals.values;
    if (!env) return;
    for (const stage of ctx.stages) {
      const flag = platformFlag(stage.from);
      if (!flag) continue;
      const r = ctx.expand(flag.value!, env);
      if (!r || r.matched.length > 0 || r.unmatched.length > 0) continue;
      const p = parseLenientPlatform(r.value);
      if (!p) continue;
      const name = stage.from.alias ?? '';
      if (name.includes(p.os) || name.includes(p.architecture)) continue;
      report({ message: `FROM --platform flag should not use constant value ${JSON.stringify(r.value)}`, at: stage.from, position: flag.range.start });
    }
  },
};

import type { Rule } from '../rule.js';

/** MAINTAINER sets a field nothing reads any more; `LABEL org.opencontainers.image.authors=` replaces it. */
export const maintainerDeprecated: Rule = {
  name: 'MaintainerDeprecated',
  description: 'The MAINTAINER instruction is deprecated, use a label instead to define an image author',
  check(ctx, report) {
    for (const ins of ctx.df.instructions) {
      if (ins.kind === 'MAINTAINER') report({ message: 'Maintainer instruction is deprecated in favor of using label', at: ins });
    }
  },
};

import { parseReference } from '../../image/reference.js';
import type { Rule } from '../rule.js';

/**
 * A FROM that only names a valid image thanks to a --build-arg: with the ARG defaults alone
 * (`ARG TAG` then `FROM busybox:${TAG}`) it is empty or invalid, so a plain build fails.
 */
export const invalidDefaultArgInFrom: Rule = {
  name: 'InvalidDefaultArgInFrom',
  description: 'Default value for global ARG results in an empty or invalid base image name',
  fileWide: true,
  check(ctx, report) {
    const env = ctx.globals.defaults;
    if (!env) return;
    for (const stage of ctx.stages) {
      const r = ctx.expand(stage.from.image, env);
      // BuildKit gives up on the whole check at a word it cannot expand; the build reports it.
      if (!r) return;
      let valid = r.value !== '';
      if (valid) {
        try {
          parseReference(r.value);
        } catch {
          valid = false;
        }
      }
      if (!valid) report({ message: `Default value for ARG ${stage.from.image} results in empty or invalid base image name`, at: stage.from });
    }
  },
};

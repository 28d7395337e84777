import { formatPlatform } from '../../image/platform.js';
import type { Rule } from '../rule.js';

/**
 * The base image the build would use is for another OS or architecture than the stage is built for.
 * Needs the image: only when the caller supplies CheckOptions.imagePlatform (the check pulls nothing).
 */
export const invalidBaseImagePlatform: Rule = {
  name: 'InvalidBaseImagePlatform',
  description: 'Base image platform does not match expected target platform',
  check(ctx, report) {
    const lookup = ctx.options.imagePlatform;
    if (!lookup || !ctx.graph) return;
    for (const stage of ctx.stages) {
      const g = ctx.graph.stages[stage.index]!;
      if (g.base.type !== 'image' || !stage.checked) continue;
      const actual = lookup(g.base.ref, g.platform);
      if (!actual) continue;
      if (actual.os !== g.platform.os || actual.architecture !== g.platform.architecture) {
        report({
          message: `Base image ${g.base.ref} was pulled with platform ${JSON.stringify(formatPlatform(actual))}, expected ${JSON.stringify(formatPlatform(g.platform))} for current build`,
          at: stage.from,
        });
      }
    }
  },
};

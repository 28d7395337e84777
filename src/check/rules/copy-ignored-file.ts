import { posix } from 'node:path';
import type { Rule } from '../rule.js';

/** Patterns that leave nothing of the context root: then even `COPY . .` copies nothing. */
const ROOT_PATTERNS = new Set(['*', '**', '**/*']);

/**
 * COPY/ADD of a context path that `.dockerignore` excludes: the build fails or copies less than it
 * says. Only with the context's ignore patterns, and not when any is a `!` exception: what an
 * exception re-includes under an excluded directory cannot be told without the files, so BuildKit
 * does not guess, and neither does this.
 */
export const copyIgnoredFile: Rule = {
  name: 'CopyIgnoredFile',
  description: 'Attempting to Copy file that is excluded by .dockerignore',
  check(ctx, report) {
    const ignore = ctx.ignore;
    if (!ignore || ignore.hasExceptions) return;
    const rootIgnored = ignore.patterns.some((p) => !p.exception && ROOT_PATTERNS.has(p.pattern));
    for (const stage of ctx.stages) {
      if (!stage.checked) continue;
      for (const step of stage.steps ?? []) {
        if ((step.kind !== 'COPY' && step.kind !== 'ADD') || step.from) continue;
        const verb = step.kind === 'ADD' ? 'Add' : 'Copy';
        for (const source of step.sources) {
          if (source.type !== 'path' || isRemote(source.path)) continue;
          const path = posix.normalize(source.path.replace(/\\/g, '/')).replace(/(.)\/+$/, '$1');
          const ignored = path === '.' || path === '/' || path === './' ? rootIgnored : ignore.matcher.ignores(path.replace(/^\/+/, ''));
          if (ignored) report({ message: `Attempting to ${verb} file ${JSON.stringify(path === './' ? '.' : path)} that is excluded by .dockerignore`, at: step.instruction });
        }
      }
    }
  },
};

/** ADD of a URL or a git repository reads nothing from the context. */
function isRemote(src: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(src) || /^git@/.test(src) || /^github\.com\//.test(src);
}

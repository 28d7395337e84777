import type { Rule } from '../rule.js';

/** Two stages with one name: `--from` and `--target` then pick the last one, silently. */
export const duplicateStageName: Rule = {
  name: 'DuplicateStageName',
  description: 'Stage names should be unique',
  fileWide: true,
  check(ctx, report) {
    const seen = new Set<string>();
    for (const s of ctx.stages) {
      if (s.name === undefined) continue;
      if (seen.has(s.name)) report({ message: `Duplicate stage name ${JSON.stringify(s.name)}, stage names should be unique`, at: s.from });
      seen.add(s.name);
    }
  },
};

import type { Rule } from '../rule.js';

/** A name that is, or begins or ends with (at `_`), a word that usually names a secret... */
const SECRET = /(?:_|^)(?:apikey|auth|credential|credentials|key|password|pword|passwd|secret|token)(?:_|$)/i;
/** ...unless it also says it is public, a file path or a version. BuildKit's two lists. */
const ALLOWED = /(?:_|^)(?:public|file|version)(?:_|$)/i;

/**
 * ARG and ENV values end up in the image config and history: secrets belong in
 * `RUN --mount=type=secret`. Stage ARGs and ENVs, not global ARGs (they never reach an image).
 */
export const secretsUsedInArgOrEnv: Rule = {
  name: 'SecretsUsedInArgOrEnv',
  description: 'Sensitive data should not be used in the ARG or ENV commands',
  check(ctx, report) {
    for (const stage of ctx.stages) {
      if (!stage.checked) continue;
      const expandedEnvKeys = new Map(stage.steps?.flatMap((s) => (s.kind === 'ENV' ? [[s.instruction, s.pairs.map((p) => p.key)] as const] : [])));
      for (const ins of stage.instructions) {
        let keys: readonly string[];
        if (ins.kind === 'ARG') keys = ins.args.map((a) => a.key);
        else if (ins.kind === 'ENV') keys = expandedEnvKeys.get(ins) ?? ins.pairs.map((p) => p.key);
        else continue;
        for (const key of keys) {
          if (SECRET.test(key) && !ALLOWED.test(key)) {
            report({ message: `Do not use ARG or ENV instructions for sensitive data (${ins.kind} ${JSON.stringify(key)})`, at: ins });
          }
        }
      }
    }
  },
};

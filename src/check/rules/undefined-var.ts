import type { Rule } from '../rule.js';
import { suggestName } from '../suggest.js';

/** ARGs that configure the build and never reach the environment; using them is not an error. */
const NON_ENV_ARGS = new Set(['BUILDKIT_SBOM_SCAN_CONTEXT', 'BUILDKIT_SBOM_SCAN_STAGE']);

/**
 * `$VAR` in an instruction Docker expands (COPY, ADD, ENV, LABEL, WORKDIR, USER, VOLUME, STOPSIGNAL,
 * ARG defaults, RUN --mount) that is neither set nor a declared ARG at that point. RUN/CMD bodies are
 * the shell's business, and EXPOSE is not checked by BuildKit either. Needs the plan's expanded steps
 * and a known base environment (see CheckOptions.imageEnv).
 */
export const undefinedVar: Rule = {
  name: 'UndefinedVar',
  description: 'Variables should be defined before their use',
  check(ctx, report) {
    const declaredAtEnd: Set<string>[] = [];
    for (const stage of ctx.stages) {
      const declared = new Set(stage.baseStage !== undefined ? (declaredAtEnd[stage.baseStage] ?? []) : []);
      for (const step of stage.steps ?? []) {
        if (stage.checked && stage.envKnown && step.kind !== 'EXPOSE') {
          for (const name of step.referenced.unmatched) {
            if (declared.has(name) || NON_ENV_ARGS.has(name)) continue;
            const hint = suggestName(name, Object.keys(step.env));
            report({ message: `Usage of undefined variable '$${name}'${hint ? ` (did you mean $${hint}?)` : ''}`, at: step.instruction });
          }
        }
        if (step.kind === 'ARG') for (const a of step.args) declared.add(a.key);
      }
      declaredAtEnd[stage.index] = declared;
    }
  },
};

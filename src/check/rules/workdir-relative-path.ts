import type { Platform } from '../../image/platform.js';
import type { Rule } from '../rule.js';
import { hasVariables } from './helpers.js';

/**
 * The first WORKDIR of a build chain is relative: it lands wherever the base image's WORKDIR is, which
 * may change under you. Later relative ones are fine (fixing the first fixes them), and a stage built
 * FROM another inherits whether one was set.
 */
export const workdirRelativePath: Rule = {
  name: 'WorkdirRelativePath',
  description: 'Relative workdir without an absolute workdir declared within the build can have unexpected results if the base image changes',
  check(ctx, report) {
    const setAtEnd: boolean[] = [];
    for (const stage of ctx.stages) {
      let set = stage.baseStage !== undefined ? (setAtEnd[stage.baseStage] ?? false) : false;
      const os = ctx.graph?.stages[stage.index]?.platform.os ?? ctx.options.platform?.os ?? 'linux';
      const workdirs = stage.steps
        ? stage.steps.flatMap((s) => (s.kind === 'WORKDIR' ? [{ path: s.path, at: s.instruction }] : []))
        : stage.instructions.flatMap((i) => (i.kind === 'WORKDIR' ? [{ path: hasVariables(i.path) ? undefined : i.path, at: i }] : []));
      for (const w of workdirs) {
        if (!set && stage.checked && w.path !== undefined && !isAbsolute(w.path, os)) {
          report({ message: `Relative workdir ${JSON.stringify(w.path)} can have unexpected results if the base image changes`, at: w.at });
        }
        set = true;
      }
      setAtEnd[stage.index] = set;
    }
  },
};

function isAbsolute(path: string, os: Platform['os']): boolean {
  if (os === 'windows') return /^[a-zA-Z]:[\\/]/.test(path) || path.startsWith('\\') || path.startsWith('/');
  return path.startsWith('/');
}

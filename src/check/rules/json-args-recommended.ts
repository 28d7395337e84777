import type { Rule } from '../rule.js';

/**
 * CMD/ENTRYPOINT in shell form run under `/bin/sh -c`, which does not pass signals on. Not reported
 * once SHELL was set in the stage or a stage it is built from (the shell is then a deliberate choice).
 */
export const jsonArgsRecommended: Rule = {
  name: 'JSONArgsRecommended',
  description: 'JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals',
  check(ctx, report) {
    const shellAtEnd: boolean[] = [];
    for (const stage of ctx.stages) {
      let shell = stage.baseStage !== undefined ? (shellAtEnd[stage.baseStage] ?? false) : false;
      for (const ins of stage.instructions) {
        if (ins.kind === 'SHELL') shell = true;
        else if ((ins.kind === 'CMD' || ins.kind === 'ENTRYPOINT') && ins.command.form === 'shell' && !shell && stage.checked) {
          report({ message: `JSON arguments recommended for ${ins.keyword} to prevent unintended behavior related to OS signals`, at: ins });
        }
      }
      shellAtEnd[stage.index] = shell;
    }
  },
};

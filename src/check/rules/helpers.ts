/** Small lookups several rules share. */
import type { Instruction, Warning } from '../../dockerfile/ast.js';
import type { CheckContext, StageView } from '../context.js';

/**
 * The parser's own warnings for a rule (it sees what the AST no longer keeps: the stage name's
 * casing, `key value` without `=`, empty continuation lines), each with the top-level instruction it
 * belongs to. A warning raised inside an ONBUILD trigger starts at the trigger, not at an instruction:
 * BuildKit only lints a trigger where it runs, so those are left out.
 */
export function parserWarnings(ctx: CheckContext, rule: string): { warning: Warning; at: Instruction }[] {
  const out: { warning: Warning; at: Instruction }[] = [];
  for (const warning of ctx.df.warnings) {
    if (warning.rule !== rule) continue;
    const at = ctx.df.instructions.find(
      (i) => i.range.start.line === warning.range.start.line && i.range.start.column === warning.range.start.column,
    );
    if (at) out.push({ warning, at });
  }
  return out;
}

/** The stage an instruction belongs to (undefined before the first FROM). */
export function stageOf(ctx: CheckContext, ins: Instruction): StageView | undefined {
  return ctx.stages.find((s) => s.from === ins || s.instructions.includes(ins));
}

/** Whether a word would change when expanded (so its raw text is not its value). */
export function hasVariables(word: string): boolean {
  return word.includes('$');
}

/**
 * The JSON shape `tsbuild plan` prints (and the golden files hold): the graph with each AST node
 * replaced by its source text, so the output is readable and stable.
 */
import type { BuildGraph, Stage, Step } from './build-graph.js';

export function planToJson(graph: BuildGraph): unknown {
  return {
    file: graph.file,
    target: graph.target,
    order: graph.order,
    platform: graph.platform,
    buildPlatform: graph.buildPlatform,
    globalArgs: graph.globalArgs,
    predefinedArgs: graph.predefinedArgs,
    proxyEnv: graph.proxyEnv,
    buildArgs: graph.buildArgs,
    stages: graph.stages.map(stageJson),
    warnings: graph.warnings.map((w) => ({ line: w.range.start.line, message: w.message, ...(w.rule ? { rule: w.rule } : {}) })),
  };
}

function stageJson(s: Stage): unknown {
  const { from, location, steps, ...rest } = s;
  return { ...rest, line: location.start.line, from: from.original.trim(), steps: steps.map(stepJson) };
}

function stepJson(step: Step): unknown {
  const { instruction, location, index, ...rest } = step;
  return { index, line: location.start.line, original: instruction.original.trim(), ...rest };
}

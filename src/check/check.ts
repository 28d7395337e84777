/**
 * `tsbuild build --check`: BuildKit's Dockerfile lint rules over the AST and the plan, without
 * building. Pure: the caller reads the files (Dockerfile text, .dockerignore) and passes them in.
 *
 * The `# check=skip=A,B;error=true` directive (or the BUILDKIT_DOCKERFILE_CHECK build arg, which
 * replaces it) chooses the rules and whether findings fail the build; with the Dockerfile's text, a
 * `# check=...` comment just above an instruction adds to that for the instruction, as in BuildKit.
 */
import { DockerfileError, type Dockerfile, type Instruction } from '../dockerfile/ast.js';
import { planBuild, PlanError } from '../plan/planner.js';
import type { BuildGraph } from '../plan/build-graph.js';
import { CheckOptionsError, configFromComments, defaultCheckConfig, parseCheckOptions, ruleEnabled, type CheckConfig } from './check-options.js';
import { precedingComments } from './comments.js';
import { buildContext, type CheckOptions } from './context.js';
import type { CheckFailure, CheckReport, Finding } from './finding.js';
import { ruleUrl, type Rule } from './rule.js';
import { rules as allRules } from './rules/index.js';

export type { CheckOptions } from './context.js';
export type { CheckFailure, CheckReport, Finding, Severity } from './finding.js';
export { violationMessage } from './finding.js';

/** The build arg that overrides the `check` directive, as in BuildKit. */
export const CHECK_BUILD_ARG = 'BUILDKIT_DOCKERFILE_CHECK';

export function checkDockerfile(df: Dockerfile, options: CheckOptions = {}, rules: readonly Rule[] = allRules): CheckReport {
  let config: CheckConfig;
  try {
    const fromArg = options.buildArgs?.[CHECK_BUILD_ARG];
    const directive = df.directives.find((d) => d.name === 'check');
    config = fromArg !== undefined ? parseCheckOptions(fromArg) : directive ? parseCheckOptions(directive.value) : defaultCheckConfig;
  } catch (e) {
    if (!(e instanceof CheckOptionsError)) throw e;
    const at = df.directives.find((d) => d.name === 'check')?.range.start;
    return { findings: [], errorOnFindings: false, failure: { message: `failed to parse check options: ${e.message}`, file: df.file, ...(at ? { line: at.line, column: at.column } : {}) } };
  }

  // The plan gives expanded steps; a Dockerfile that does not plan is still linted as far as the AST goes.
  let graph: BuildGraph | undefined;
  let failure: CheckFailure | undefined;
  try {
    graph = planBuild(df, {
      ...(options.buildArgs ? { buildArgs: options.buildArgs } : {}),
      ...(options.target ? { target: options.target } : {}),
      ...(options.platform ? { platform: options.platform } : {}),
      ...(options.buildPlatform ? { buildPlatform: options.buildPlatform } : {}),
    });
  } catch (e) {
    if (e instanceof DockerfileError) failure = { message: e.reason, file: e.file, line: e.line, column: e.column };
    else if (e instanceof PlanError) failure = { message: e.message, file: df.file };
    else throw e;
  }

  const ctx = buildContext(df, options, config, graph);
  const comments = options.text !== undefined ? precedingComments(options.text, df) : new Map<Instruction, string[]>();
  const severity = config.errorOnFindings ? 'error' : 'warning';
  const findings: Finding[] = [];
  for (const rule of rules) {
    rule.check(ctx, (hit) => {
      const local = rule.fileWide ? config : configFromComments(config, comments.get(hit.at) ?? []);
      if (!ruleEnabled(local, rule.name, rule.experimental)) return;
      const at = hit.position ?? hit.at.range.start;
      findings.push({
        rule: rule.name,
        message: hit.message,
        file: df.file,
        line: at.line,
        column: at.column,
        severity,
        url: rule.url ?? ruleUrl(rule.name),
      });
    });
  }
  // Array.prototype.sort is stable: same place keeps rule order.
  findings.sort((a, b) => a.line - b.line || a.column - b.column);
  return { findings, errorOnFindings: config.errorOnFindings, ...(failure ? { failure } : {}) };
}

/**
 * One line per finding, `file:line:col: Rule: message`, the failure if any, then a summary line
 * (buildx's wording). `file` is the path to show (the report's own when not given).
 */
export function formatFindings(report: CheckReport, options: { file?: string } = {}): string {
  const lines: string[] = [];
  for (const f of report.findings) lines.push(`${options.file ?? f.file}:${f.line}:${f.column}: ${f.rule}: ${f.message}`);
  const n = report.findings.length;
  if (report.failure) {
    const fl = report.failure;
    const place = fl.line !== undefined ? `:${fl.line}:${fl.column ?? 1}` : '';
    lines.push(`${options.file ?? fl.file}${place}: ${fl.message}`);
  }
  const count = n === 1 ? '1 warning has been found!' : `${n} warnings have been found!`;
  if (report.failure) lines.push(`Check failed: the Dockerfile does not build${n > 0 ? `, and ${count}` : '.'}`);
  else if (n === 0) lines.push('Check complete, no warnings found.');
  else if (report.errorOnFindings) {
    const rules = [...new Set(report.findings.map((f) => f.rule))].join(', ');
    lines.push(`Check failed, ${count.replace(/warning/, 'error')} (lint violation found for rules: ${rules})`);
  } else lines.push(`Check complete, ${count}`);
  return `${lines.join('\n')}\n`;
}

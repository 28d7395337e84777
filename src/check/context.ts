/**
 * What the rules look at, computed once per check: the stages as written (AST), the global ARG scope
 * FROM lines see, and, when the Dockerfile plans, the planner's BuildGraph with every stage's steps
 * expanded (against the base image's ENV when the caller knows it).
 */
import type { ArgInstruction, Dockerfile, FromInstruction, Instruction } from '../dockerfile/ast.js';
import { createIgnoreMatcher, type IgnoreMatcher, type IgnorePattern } from '../dockerfile/dockerignore.js';
import { expandWordWithMatches, type ExpansionResult } from '../dockerfile/shell-word.js';
import { formatPlatform, hostPlatform, type Platform } from '../image/platform.js';
import type { BuildGraph, StageBaseState, Step } from '../plan/build-graph.js';
import { baseFromImageEnv, expandStage } from '../plan/expand-stage.js';
import type { CheckConfig } from './check-options.js';

export interface CheckOptions {
  /** `--build-arg` values (BUILDKIT_DOCKERFILE_CHECK among them replaces the `check` directive). */
  buildArgs?: Record<string, string>;
  /** `--target`: only the stages it needs are checked; default every stage, as BuildKit's lint does. */
  target?: string;
  /** The platform built for; default the host's. */
  platform?: Platform;
  /** The build host's platform; default the host's. */
  buildPlatform?: Platform;
  /** The Dockerfile's text: enables per-instruction `# check=` comments (the AST keeps no comments). */
  text?: string;
  /** The build context's `.dockerignore` patterns (see loadDockerignore): enables CopyIgnoredFile. */
  dockerignore?: readonly IgnorePattern[];
  /**
   * A base image's config `Env` (`KEY=VALUE`), when the caller has the image. Stages whose base
   * image environment is unknown are not checked for UndefinedVar: a variable the image defines
   * would be reported by mistake.
   */
  imageEnv?: (ref: string, platform: Platform) => readonly string[] | undefined;
  /** The platform of the base image the build would use, when the caller has it: InvalidBaseImagePlatform. */
  imagePlatform?: (ref: string, platform: Platform) => Platform | undefined;
}

export interface StageView {
  index: number;
  from: FromInstruction;
  /** `AS name`, lower-cased. */
  name?: string;
  /** The instructions after FROM, up to the next FROM. */
  instructions: Instruction[];
  /** The earlier stage this one is built FROM, if any. */
  baseStage?: number;
  /** Whether its instructions are checked: every stage, or with a target only those it needs. */
  checked: boolean;
  /**
   * Its steps as the planner expands them (ONBUILD triggers inherited from a parent left out), and
   * whether the environment they were expanded in is fully known. Absent when planning failed.
   */
  steps?: Step[];
  envKnown?: boolean;
}

export interface GlobalScope {
  /** BUILDPLATFORM, TARGETARCH, ... with their values. */
  predefined: Record<string, string>;
  /** Every ARG name declared before the first FROM, with or without a value. */
  declared: Set<string>;
  /** What FROM lines are expanded against: predefined + meta ARGs that have a value (build args applied). */
  values?: Map<string, string>;
  /** The same from the defaults alone (no --build-arg). Absent when a default does not expand. */
  defaults?: Map<string, string>;
}

export interface CheckContext {
  df: Dockerfile;
  options: CheckOptions;
  config: CheckConfig;
  metaArgs: ArgInstruction[];
  stages: StageView[];
  globals: GlobalScope;
  /** The plan, when the Dockerfile plans with these options. */
  graph?: BuildGraph;
  /** The `.dockerignore` matcher, when patterns were given; with whether any is a `!` exception. */
  ignore?: { matcher: IgnoreMatcher; patterns: readonly IgnorePattern[]; hasExceptions: boolean };
  /** Expands a word with the escape token in force; undefined when the word is malformed. */
  expand(word: string, env: ReadonlyMap<string, string>): ExpansionResult | undefined;
}

export function buildContext(df: Dockerfile, options: CheckOptions, config: CheckConfig, graph: BuildGraph | undefined): CheckContext {
  const expand = (word: string, env: ReadonlyMap<string, string>) => {
    try {
      return expandWordWithMatches(word, env, { escapeToken: df.escapeToken });
    } catch {
      return undefined;
    }
  };

  const metaArgs: ArgInstruction[] = [];
  const stages: StageView[] = [];
  for (const ins of df.instructions) {
    if (ins.kind === 'FROM') {
      stages.push({ index: stages.length, from: ins, ...(ins.alias !== undefined ? { name: ins.alias.toLowerCase() } : {}), instructions: [], checked: true });
    } else if (stages.length === 0) {
      if (ins.kind === 'ARG') metaArgs.push(ins);
    } else stages[stages.length - 1]!.instructions.push(ins);
  }

  const buildArgs = options.buildArgs ?? {};
  const platform = options.platform ?? hostPlatform();
  const target = options.target ? stages.findLast((s) => s.name === options.target!.toLowerCase()) : stages[stages.length - 1];
  const predefined = predefinedArgs(platform, options.buildPlatform ?? hostPlatform(), target?.name ?? '', buildArgs);
  const declared = new Set(metaArgs.flatMap((a) => a.args.map((x) => x.key)));
  const scope = (withBuildArgs: boolean): Map<string, string> | undefined => {
    const env = new Map(Object.entries(predefined));
    for (const ins of metaArgs) {
      for (const a of ins.args) {
        let value: string | undefined;
        if (withBuildArgs && Object.hasOwn(buildArgs, a.key)) value = buildArgs[a.key];
        else if (a.value !== undefined) {
          const r = expand(a.value, env);
          if (!r) return undefined;
          value = r.value;
        }
        if (value !== undefined) env.set(a.key, value);
      }
    }
    return env;
  };
  const values = scope(true);
  const defaults = scope(false);
  const globals: GlobalScope = { predefined, declared, ...(values ? { values } : {}), ...(defaults ? { defaults } : {}) };

  for (const stage of stages) {
    if (graph) {
      const g = graph.stages[stage.index];
      if (g?.base.type === 'stage') stage.baseStage = g.base.index;
      if (options.target) stage.checked = g?.needed ?? true;
    } else if (values) {
      const image = expand(stage.from.image, values)?.value;
      const parent = image === undefined ? -1 : stages.slice(0, stage.index).findLastIndex((s) => s.name === image.toLowerCase());
      if (parent >= 0) stage.baseStage = parent;
    }
  }
  if (graph) expandSteps(graph, stages, options);

  let ignore: CheckContext['ignore'];
  if (options.dockerignore && options.dockerignore.length > 0) {
    ignore = { matcher: createIgnoreMatcher(options.dockerignore), patterns: options.dockerignore, hasExceptions: options.dockerignore.some((p) => p.exception) };
  }
  return { df, options, config, metaArgs, stages, globals, ...(graph ? { graph } : {}), ...(ignore ? { ignore } : {}), expand };
}

/** Expands every stage in file order, each from its real base state where it is known. */
function expandSteps(graph: BuildGraph, stages: StageView[], options: CheckOptions): void {
  const finals: (StageBaseState | undefined)[] = [];
  for (const stage of stages) {
    const g = graph.stages[stage.index]!;
    let base: StageBaseState | undefined;
    let known = true;
    if (g.base.type === 'scratch') base = baseFromImageEnv([], g.platform.os);
    else if (g.base.type === 'stage') {
      base = finals[g.base.index];
      known = stages[g.base.index]!.envKnown ?? false;
    } else {
      const env = options.imageEnv?.(g.base.ref, g.platform);
      known = env !== undefined;
      base = baseFromImageEnv(env ?? [], g.platform.os);
    }
    let steps = g.steps;
    try {
      if (base) {
        const expanded = expandStage(graph, stage.index, base);
        steps = expanded.steps;
        finals[stage.index] = expanded.final;
      } else known = false;
    } catch {
      // The planner already accepted (or leniently skipped) this stage; keep its provisional steps.
      known = false;
    }
    stage.steps = steps.filter((s) => !s.onbuild);
    stage.envKnown = known;
  }
}

/** BuildKit's predefined platform ARGs (as the planner computes them), with --build-arg overrides. */
function predefinedArgs(target: Platform, host: Platform, targetName: string, overrides: Record<string, string>): Record<string, string> {
  const t = normalizePlatform(target);
  const b = normalizePlatform(host);
  const values: Record<string, string> = {
    BUILDPLATFORM: formatPlatform(b),
    BUILDOS: b.os,
    BUILDOSVERSION: b['os.version'] ?? '',
    BUILDARCH: b.architecture,
    BUILDVARIANT: b.variant ?? '',
    TARGETPLATFORM: formatPlatform(t),
    TARGETOS: t.os,
    TARGETOSVERSION: t['os.version'] ?? '',
    TARGETARCH: t.architecture,
    TARGETVARIANT: t.variant ?? '',
    TARGETSTAGE: targetName || 'default',
  };
  for (const k of Object.keys(values)) if (Object.hasOwn(overrides, k)) values[k] = overrides[k]!;
  return values;
}

function normalizePlatform(p: Platform): Platform {
  if (p.architecture === 'arm64' && (p.variant === 'v8' || p.variant === '8')) {
    const { variant: _v, ...rest } = p;
    return rest;
  }
  return p;
}

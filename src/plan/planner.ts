/**
 * Dockerfile AST -> BuildGraph, with BuildKit's rules for stages, ARG scoping and `--target` pruning.
 *
 * ARG scoping (as Docker):
 * - ARGs before the first FROM are global: visible to FROM lines (image and --platform) only; inside a
 *   stage an `ARG NAME` without a default redeclares one and takes its value.
 * - predefined ARGs (TARGETPLATFORM, BUILDARCH, ...) behave as globals; proxy ARGs (HTTP_PROXY, ...)
 *   need no declaration and reach RUN only, outside cache keys.
 * - in a stage, an ARG is visible from its declaration on; ENV and ARG share one environment in
 *   declaration order, so a later ENV overrides an ARG; `--build-arg` overrides any declared default.
 * Step values are expanded by expand-stage.ts; see build-graph.ts for the base-image ENV design.
 */
import { DockerfileError, type Dockerfile, type FromInstruction, type Instruction, type Warning } from '../dockerfile/ast.js';
import { expandWordWithMatches, ShellWordError } from '../dockerfile/shell-word.js';
import { formatPlatform, hostPlatform, parsePlatform, type Platform } from '../image/platform.js';
import { parseReference } from '../image/reference.js';
import type { BuildGraph, FromRef, Location, Stage, StageBase, StageBaseState } from './build-graph.js';
import { baseFromImageEnv, expandInstructions, resolveFrom, type StageInstruction } from './expand-stage.js';
import { FlagError, stringFlag, stringsFlag } from './flags.js';
import { mountFromRaw } from './run-mount.js';

export interface PlanOptions {
  /** `--build-arg` values. */
  buildArgs?: Record<string, string>;
  /** `--target`: the stage to build (by name); default the last stage. */
  target?: string;
  /** The platform to build for; default the host's. */
  platform?: Platform;
  /** The build host's platform (BUILDPLATFORM); default the host's. */
  buildPlatform?: Platform;
}

/** A planning failure that has no place in the Dockerfile (e.g. an unknown `--target`). */
export class PlanError extends Error {
  override name = 'PlanError';
}

/** Build args that need no ARG: passed to RUN as env, kept out of cache keys (Docker's predefined proxies). */
const PROXY_ARGS = new Set(
  ['HTTP_PROXY', 'HTTPS_PROXY', 'FTP_PROXY', 'NO_PROXY', 'ALL_PROXY'].flatMap((k) => [k, k.toLowerCase()]),
);

const STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;
const RESERVED_STAGE_NAMES = new Set(['context', 'scratch']);

interface PendingStage {
  from: FromInstruction;
  instructions: StageInstruction[];
}

export function planBuild(df: Dockerfile, options: PlanOptions = {}): BuildGraph {
  const buildArgs = { ...(options.buildArgs ?? {}) };
  const platform = options.platform ?? hostPlatform();
  const buildPlatform = options.buildPlatform ?? hostPlatform();
  const warnings: Warning[] = [...df.warnings];
  const at = (ins: Instruction) => (message: string): never => {
    throw new DockerfileError(df.file, ins.range.start.line, ins.range.start.column, message);
  };

  // Split into global ARGs and stages.
  const metaArgs: (Instruction & { kind: 'ARG' })[] = [];
  const pending: PendingStage[] = [];
  for (const ins of df.instructions) {
    if (ins.kind === 'FROM') pending.push({ from: ins, instructions: [] });
    else if (pending.length === 0) {
      if (ins.kind === 'ARG') metaArgs.push(ins);
      else at(ins)('no build stage in current context');
    } else pending[pending.length - 1]!.instructions.push({ instruction: ins });
  }
  if (pending.length === 0) throw new PlanError(`${df.file}: dockerfile contains no stages to build`);

  // Stage names first: --target and TARGETSTAGE need them.
  const names = pending.map((p, i) => {
    if (p.from.alias === undefined) return undefined;
    const name = p.from.alias.toLowerCase();
    if (!STAGE_NAME.test(name)) {
      at(p.from)(`invalid name for build stage: ${JSON.stringify(p.from.alias)}, name can't start with a number or contain symbols`);
    }
    if (RESERVED_STAGE_NAMES.has(name)) warnings.push(warn(p.from, `Stage name ${JSON.stringify(name)} is reserved`, 'ReservedStageName'));
    if (pending.slice(0, i).some((q) => q.from.alias?.toLowerCase() === name)) {
      warnings.push(warn(p.from, `Duplicate stage name ${JSON.stringify(name)}, stage names should be unique`, 'DuplicateStageName'));
    }
    return name;
  });
  let target = pending.length - 1;
  if (options.target !== undefined && options.target !== '') {
    const t = options.target.toLowerCase();
    const found = names.lastIndexOf(t);
    if (found < 0) throw new PlanError(`target stage ${JSON.stringify(options.target)} could not be found`);
    target = found;
  }

  const predefinedArgs = predefined(platform, buildPlatform, names[target] ?? '', buildArgs);

  // Global ARGs, each default expanded against the ones before it.
  const globals = new Map(Object.entries(predefinedArgs));
  const globalArgs: Record<string, string> = {};
  const declared = new Set<string>();
  for (const ins of metaArgs) {
    for (const a of ins.args) {
      declared.add(a.key);
      let value: string | undefined;
      if (Object.hasOwn(buildArgs, a.key)) value = buildArgs[a.key];
      else if (a.value !== undefined) value = expandOrFail(a.value, globals, df, ins);
      if (value !== undefined) {
        globals.set(a.key, value);
        globalArgs[a.key] = value;
      }
    }
  }

  // FROM lines: expanded with the globals only.
  const stages: Stage[] = [];
  pending.forEach((p, index) => {
    const fail = at(p.from);
    const image = expandOrFail(p.from.image, globals, df, p.from);
    if (image === '') fail(`base name (${p.from.image}) should not be blank`);
    const platformRaw = flagOrFail(() => stringFlag(p.from, 'platform'), fail);
    let stagePlatform = platform;
    if (platformRaw !== undefined) {
      const expanded = expandOrFail(platformRaw, globals, df, p.from);
      if (expanded === '') fail(`empty platform value from expression ${platformRaw}`);
      try {
        stagePlatform = parsePlatform(expanded);
      } catch (e) {
        fail(`failed to parse platform ${platformRaw}: ${(e as Error).message}`);
      }
    }
    let base: StageBase;
    const parent = names.slice(0, index).lastIndexOf(image);
    if (image === 'scratch') base = { type: 'scratch' };
    else if (parent >= 0) base = { type: 'stage', index: parent };
    else {
      try {
        parseReference(image);
      } catch (e) {
        fail(`failed to parse stage name ${JSON.stringify(image)}: ${(e as Error).message}`);
      }
      base = { type: 'image', ref: image, ...(platformRaw !== undefined ? { platform: stagePlatform } : {}) };
    }
    // A stage built FROM another one inherits the parent's platform unless it names its own.
    if (base.type === 'stage' && platformRaw === undefined) stagePlatform = stages[base.index]!.platform;
    // The parent stage's ONBUILD triggers run first in this stage, as BuildKit does.
    const instructions: StageInstruction[] =
      base.type === 'stage'
        ? [
            ...pending[base.index]!.instructions.flatMap((s) =>
              s.instruction.kind === 'ONBUILD' && !s.onbuild ? [{ instruction: s.instruction.trigger, onbuild: true }] : [],
            ),
            ...p.instructions,
          ]
        : p.instructions;
    pending[index] = { ...p, instructions };
    stages.push({
      index,
      ...(names[index] !== undefined ? { name: names[index] } : {}),
      base,
      platform: stagePlatform,
      platformExplicit: platformRaw !== undefined,
      from: p.from,
      location: locationOf(df, p.from),
      steps: [],
      dependsOn: [],
      imageDeps: [],
      needed: false,
      provisional: false,
    });
  });

  // Edges: base stage, COPY --from, RUN --mount from=. Each edge remembers the instruction that made it.
  const edges: Map<number, Instruction>[] = stages.map(() => new Map());
  stages.forEach((stage, i) => {
    if (stage.base.type === 'stage') edges[i]!.set(stage.base.index, stage.from);
    const images = new Set<string>();
    const add = (ref: FromRef, ins: Instruction) => {
      if (ref.type === 'stage') {
        if (!edges[i]!.has(ref.index)) edges[i]!.set(ref.index, ins);
      } else images.add(ref.ref);
    };
    for (const { instruction: ins } of pending[i]!.instructions) {
      const fail = at(ins);
      if (ins.kind === 'COPY') {
        const from = flagOrFail(() => stringFlag(ins, 'from'), fail);
        if (from !== undefined) {
          if (expandOrFail(from, new Map(), df, ins) !== from) {
            fail('variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround');
          }
          const ref = resolveFrom({ stages }, from, true, fail);
          if (ref.type === 'image') checkImageRef(ref.ref, '--from=', fail);
          add(ref, ins);
        }
      } else if (ins.kind === 'RUN') {
        for (const spec of flagOrFail(() => stringsFlag(ins, 'mount'), fail)) {
          const from = flagOrFail(() => mountFromRaw(spec), fail);
          if (from === undefined || from === '') continue;
          const ref = resolveFrom({ stages }, from, false, fail);
          if (ref.type === 'image') checkImageRef(ref.ref, '--mount from=', fail);
          add(ref, ins);
        }
      }
    }
    stage.dependsOn = [...edges[i]!.keys()].sort((a, b) => a - b);
    stage.imageDeps = [...images].sort();
  });

  checkCycles(stages, edges, df);

  // Everything the target needs, then waves: a stage runs one wave after its latest dependency.
  const needed = new Set<number>();
  const visit = (i: number) => {
    if (needed.has(i)) return;
    needed.add(i);
    for (const d of stages[i]!.dependsOn) visit(d);
  };
  visit(target);
  const wave = new Map<number, number>();
  const waveOf = (i: number): number => {
    let w = wave.get(i);
    if (w === undefined) {
      w = Math.max(-1, ...stages[i]!.dependsOn.map(waveOf)) + 1;
      wave.set(i, w);
    }
    return w;
  };
  const order: number[][] = [];
  for (const i of [...needed].sort((a, b) => a - b)) {
    stages[i]!.needed = true;
    (order[waveOf(i)] ??= []).push(i);
  }

  const proxyEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(buildArgs)) if (PROXY_ARGS.has(k)) proxyEnv[k] = v;

  const graph: BuildGraph = {
    file: df.file,
    escapeToken: df.escapeToken,
    stages,
    target,
    order: order.filter((w) => w && w.length > 0),
    globalArgs,
    predefinedArgs,
    proxyEnv,
    buildArgs,
    platform,
    buildPlatform,
    warnings,
  };

  // Plan-time expansion, in file order so a parent's final state is ready for its children. Stages the
  // target does not need are expanded leniently: Docker never evaluates them, so their errors don't count.
  const finals: (StageBaseState | undefined)[] = [];
  for (const stage of stages) {
    const base =
      stage.base.type === 'stage' ? (finals[stage.base.index] ?? baseFromImageEnv([], stage.platform.os)) : baseFromImageEnv([], stage.platform.os);
    stage.provisional = stage.base.type === 'image' || (stage.base.type === 'stage' && stages[stage.base.index]!.provisional);
    try {
      const expanded = expandInstructions(graph, stage, pending[stage.index]!.instructions, base);
      stage.steps = expanded.steps;
      finals[stage.index] = expanded.final;
    } catch (e) {
      if (stage.needed || !(e instanceof DockerfileError)) throw e;
      warnings.push(warn(stage.from, `stage ${stage.name ?? stage.index} is not needed and could not be expanded: ${e.reason}`, 'UnusedStageError'));
    }
    for (const s of stage.steps) if (s.kind === 'ARG' && stage.needed) for (const a of s.args) declared.add(a.key);
  }

  // Docker's warning for --build-arg values nothing declared.
  const unused = Object.keys(buildArgs)
    .filter((k) => !declared.has(k) && !PROXY_ARGS.has(k) && !Object.hasOwn(predefinedArgs, k))
    .sort();
  if (unused.length > 0) {
    warnings.push({
      message: `One or more build-args [${unused.join(' ')}] were not consumed`,
      range: { start: { line: 1, column: 1 }, end: { line: 1, column: 1 } },
      rule: 'UnusedBuildArg',
    });
  }
  return graph;
}

function predefined(target: Platform, host: Platform, targetName: string, overrides: Record<string, string>): Record<string, string> {
  const platform = normalizePlatform(target);
  const build = normalizePlatform(host);
  const values: [string, string][] = [
    ['BUILDPLATFORM', formatPlatform(build)],
    ['BUILDOS', build.os],
    ['BUILDOSVERSION', build['os.version'] ?? ''],
    ['BUILDARCH', build.architecture],
    ['BUILDVARIANT', build.variant ?? ''],
    ['TARGETPLATFORM', formatPlatform(platform)],
    ['TARGETOS', platform.os],
    ['TARGETOSVERSION', platform['os.version'] ?? ''],
    ['TARGETARCH', platform.architecture],
    ['TARGETVARIANT', platform.variant ?? ''],
    ['TARGETSTAGE', targetName || 'default'],
  ];
  return Object.fromEntries(values.map(([k, v]) => [k, Object.hasOwn(overrides, k) ? overrides[k]! : v]));
}

/** containerd's normalisation for the predefined ARGs: arm64's default variant v8 is not spelled out. */
function normalizePlatform(p: Platform): Platform {
  if (p.architecture === 'arm64' && (p.variant === 'v8' || p.variant === '8')) {
    const { variant: _v, ...rest } = p;
    return rest;
  }
  return p;
}

function expandOrFail(word: string, env: Map<string, string>, df: Dockerfile, ins: Instruction): string {
  try {
    return expandWordWithMatches(word, env, { escapeToken: df.escapeToken }).value;
  } catch (e) {
    if (e instanceof ShellWordError) throw new DockerfileError(df.file, ins.range.start.line, ins.range.start.column, e.message);
    throw e;
  }
}

function flagOrFail<T>(f: () => T, fail: (m: string) => never): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof FlagError) return fail(e.message);
    throw e;
  }
}

function checkImageRef(ref: string, what: string, fail: (m: string) => never): void {
  try {
    parseReference(ref);
  } catch {
    fail(`${what}${ref} names no stage and is not a valid image reference`);
  }
}

/**
 * Depth-first search for a cycle, as BuildKit reports it: named after the stage the search started
 * from, located at the first instruction on the cycle's path (the rest are listed in the message).
 */
function checkCycles(stages: Stage[], edges: Map<number, Instruction>[], df: Dockerfile): void {
  const done = new Uint8Array(stages.length);
  const onPath = new Uint8Array(stages.length);
  const visit = (i: number, path: Instruction[]): Instruction[] | undefined => {
    if (done[i]) return undefined;
    done[i] = 1;
    onPath[i] = 1;
    for (const [dep, ins] of edges[i]!) {
      const next = [...path, ins];
      if (onPath[dep]) return next;
      const cycle = visit(dep, next);
      if (cycle) return cycle;
    }
    onPath[i] = 0;
    return undefined;
  };
  for (let i = 0; i < stages.length; i++) {
    const cycle = visit(i, []);
    if (!cycle) continue;
    const s = stages[i]!;
    const first = cycle[0]!;
    const lines = cycle.length > 1 ? ` (lines ${cycle.map((c) => c.range.start.line).join(', ')})` : '';
    throw new DockerfileError(df.file, first.range.start.line, first.range.start.column, `circular dependency detected on stage: ${s.name ?? `stage-${s.index}`}${lines}`);
  }
}

function locationOf(df: Dockerfile, ins: Instruction): Location {
  return { file: df.file, ...ins.range };
}

function warn(ins: Instruction, message: string, rule: string): Warning {
  return { message, range: ins.range, rule };
}

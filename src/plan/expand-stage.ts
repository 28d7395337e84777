/**
 * Expands one stage's steps against its starting environment: pure, so the executor can call it again
 * with the base image's real ENV (see build-graph.ts for why the planner cannot know it).
 */
import { DockerfileError, type Heredoc, type Instruction, type KeyValue } from '../dockerfile/ast.js';
import { type EnvLookup, expandWordWithMatches, ShellWordError, type ShellWordOptions } from '../dockerfile/shell-word.js';
import type { BuildGraph, CopySource, ExpandedStage, FromRef, Location, Stage, StageBaseState, Step } from './build-graph.js';
import { boolFlag, FlagError, parseGoDuration, stringFlag, stringsFlag } from './flags.js';
import { parseRunMount } from './run-mount.js';

/** Docker's default PATH for Linux images whose config has none. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** ARGs that configure the build itself and are never put in the environment. */
const NON_ENV_ARGS = new Set(['BUILDKIT_SBOM_SCAN_CONTEXT', 'BUILDKIT_SBOM_SCAN_STAGE']);

/**
 * The starting state for a stage whose base is an image (its config's `Env`, `KEY=VALUE` strings) or
 * scratch (no argument). PATH gets Docker's default when the image sets none, as BuildKit does.
 */
export function baseFromImageEnv(env: readonly string[] = [], os = 'linux'): StageBaseState {
  const map = new Map<string, string>();
  for (const kv of env) {
    const eq = kv.indexOf('=');
    if (eq < 0) map.set(kv, '');
    else map.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  if (os !== 'windows' && !map.has('PATH')) map.set('PATH', DEFAULT_PATH);
  return { env: map, buildArgs: new Map() };
}

/** One instruction to expand; `onbuild` marks a trigger inherited from the base stage. */
export interface StageInstruction {
  instruction: Instruction;
  onbuild?: boolean;
}

/**
 * Expands the steps of `graph.stages[stageIndex]` starting from `base`. Throws DockerfileError (with
 * the instruction's location) on a failed expansion (`${X:?}`, bad syntax) or an invalid flag value.
 */
export function expandStage(graph: BuildGraph, stageIndex: number, base: StageBaseState): ExpandedStage {
  const stage = graph.stages[stageIndex];
  if (!stage) throw new RangeError(`no stage ${stageIndex}`);
  return expandInstructions(graph, stage, stage.steps, base);
}

/** The planner's entry: same as expandStage, from instructions rather than already-planned steps. */
export function expandInstructions(
  graph: BuildGraph,
  stage: Stage,
  instructions: readonly StageInstruction[],
  base: StageBaseState,
): ExpandedStage {
  const env = new Map(base.env);
  if (!env.has('PATH') && stage.platform.os !== 'windows') env.set('PATH', DEFAULT_PATH);
  const buildArgs = new Map(base.buildArgs);
  const globals = { ...graph.predefinedArgs, ...graph.globalArgs };
  const steps: Step[] = [];

  instructions.forEach(({ instruction: ins, onbuild }, index) => {
    const location: Location = { file: graph.file, ...ins.range };
    const fail = (message: string): never => {
      throw new DockerfileError(graph.file, ins.range.start.line, ins.range.start.column, message);
    };
    const matched = new Set<string>();
    const unmatched = new Set<string>();
    const lookup: EnvLookup = (name) => env.get(name);
    const run = (word: string, opts: ShellWordOptions = {}) => {
      try {
        const r = expandWordWithMatches(word, lookup, { escapeToken: graph.escapeToken, ...opts });
        for (const m of r.matched) matched.add(m);
        for (const m of r.unmatched) unmatched.add(m);
        return r;
      } catch (e) {
        if (e instanceof ShellWordError) return fail(e.message);
        throw e;
      }
    };
    const word = (w: string) => run(w).value;
    const words = (w: string) => run(w).words;
    const flags = <T>(f: () => T): T => {
      try {
        return f();
      } catch (e) {
        if (e instanceof FlagError) return fail(e.message);
        throw e;
      }
    };
    const common = {
      index,
      instruction: ins,
      location,
      buildArgs: Object.fromEntries(buildArgs),
      env: Object.fromEntries(env),
      ...(onbuild ? { onbuild: true } : {}),
    };
    const referenced = () => ({ matched: [...matched].sort(), unmatched: [...unmatched].sort() });

    switch (ins.kind) {
      case 'FROM':
        return fail('FROM inside a stage: the planner splits stages at FROM');
      case 'RUN': {
        const mounts = flags(() => stringsFlag(ins, 'mount')).map((spec) =>
          flags(() => parseRunMount(spec, word, (raw) => resolveFrom(graph, raw, false, fail))),
        );
        const network = flags(() => stringFlag(ins, 'network')) ?? 'default';
        if (network !== 'default' && network !== 'none' && network !== 'host') fail(`unsupported network mode ${JSON.stringify(network)}`);
        const security = flags(() => stringFlag(ins, 'security')) ?? 'sandbox';
        if (security !== 'sandbox' && security !== 'insecure') fail(`unsupported security mode ${JSON.stringify(security)}`);
        steps.push({
          ...common,
          kind: 'RUN',
          command: ins.command,
          heredocs: ins.heredocs.map(chomp),
          mounts,
          network: network as 'default' | 'none' | 'host',
          security: security as 'sandbox' | 'insecure',
          referenced: referenced(),
        });
        return;
      }
      case 'COPY':
      case 'ADD': {
        const isAdd = ins.kind === 'ADD';
        const chown = flags(() => stringFlag(ins, 'chown'));
        const chmod = flags(() => stringFlag(ins, 'chmod'));
        const checksum = isAdd ? flags(() => stringFlag(ins, 'checksum')) : undefined;
        const fromRaw = isAdd ? undefined : flags(() => stringFlag(ins, 'from'));
        const heredocs = new Map(ins.heredocs.map((h) => [h.name, h]));
        const sources: CopySource[] = ins.sources.map((src) => {
          const h = heredocSource(src);
          if (h !== undefined) {
            const doc = heredocs.get(h.name);
            if (!doc) return fail(`no heredoc body for ${src}`);
            let content = chomp(doc).content;
            // Heredoc bodies expand without quote processing and with a backslash escape, as BuildKit.
            if (doc.expand) content = run(content, { skipProcessQuotes: true, escapeToken: '\\' }).value;
            return { type: 'heredoc', name: doc.name, content };
          }
          return { type: 'path', path: word(src) };
        });
        if (heredocSource(ins.dest) !== undefined) fail(`${ins.kind} does not support heredocs as a destination`);
        const dest = word(ins.dest);
        const step: Step = {
          ...common,
          kind: ins.kind,
          sources,
          dest,
          ...(fromRaw !== undefined ? { from: resolveFrom(graph, fromRaw, true, fail) } : {}),
          ...(chown ? { chown: word(chown) } : {}),
          ...(chmod ? { chmod: word(chmod) } : {}),
          link: flags(() => boolFlag(ins, 'link')) ?? false,
          parents: flags(() => boolFlag(ins, 'parents')) ?? false,
          exclude: flags(() => stringsFlag(ins, 'exclude')),
          ...(checksum ? { checksum: word(checksum) } : {}),
          ...(isAdd ? optional('keepGitDir', flags(() => boolFlag(ins, 'keep-git-dir'))) : {}),
          ...(isAdd ? optional('unpack', flags(() => boolFlag(ins, 'unpack'))) : {}),
          referenced: referenced(),
        };
        steps.push(step);
        return;
      }
      case 'ENV': {
        // Every pair sees the environment from before the instruction (`ENV a=1 b=$a` uses the old a).
        const pairs: KeyValue[] = ins.pairs.map((p) => ({ key: word(p.key), value: word(p.value) }));
        for (const p of pairs) env.set(p.key, p.value);
        steps.push({ ...common, kind: 'ENV', pairs, referenced: referenced() });
        return;
      }
      case 'ARG': {
        const args: { key: string; value?: string }[] = [];
        for (const a of ins.args) {
          let value: string | undefined;
          if (Object.hasOwn(graph.buildArgs, a.key)) value = graph.buildArgs[a.key];
          else if (a.value !== undefined) value = word(a.value);
          else if (Object.hasOwn(globals, a.key)) value = globals[a.key];
          if (value !== undefined) {
            if (!NON_ENV_ARGS.has(a.key)) env.set(a.key, value);
            buildArgs.set(a.key, value);
          }
          args.push(value === undefined ? { key: a.key } : { key: a.key, value });
        }
        steps.push({ ...common, kind: 'ARG', args, referenced: referenced() });
        return;
      }
      case 'LABEL': {
        const pairs = ins.pairs.map((p) => ({ key: word(p.key), value: word(p.value) }));
        steps.push({ ...common, kind: 'LABEL', pairs, referenced: referenced() });
        return;
      }
      case 'EXPOSE':
        steps.push({ ...common, kind: 'EXPOSE', ports: ins.ports.flatMap(words), referenced: referenced() });
        return;
      case 'VOLUME':
        steps.push({ ...common, kind: 'VOLUME', paths: ins.paths.map(word), referenced: referenced() });
        return;
      case 'USER':
        steps.push({ ...common, kind: 'USER', user: word(ins.user), referenced: referenced() });
        return;
      case 'WORKDIR':
        steps.push({ ...common, kind: 'WORKDIR', path: word(ins.path), referenced: referenced() });
        return;
      case 'STOPSIGNAL':
        steps.push({ ...common, kind: 'STOPSIGNAL', signal: word(ins.signal), referenced: referenced() });
        return;
      case 'CMD':
      case 'ENTRYPOINT':
        steps.push({ ...common, kind: ins.kind, command: ins.command, referenced: referenced() });
        return;
      case 'SHELL':
        steps.push({ ...common, kind: 'SHELL', args: ins.args, referenced: referenced() });
        return;
      case 'MAINTAINER':
        steps.push({ ...common, kind: 'MAINTAINER', name: ins.name, referenced: referenced() });
        return;
      case 'ONBUILD':
        steps.push({ ...common, kind: 'ONBUILD', trigger: ins.original.replace(/^\s*ONBUILD\s*/i, ''), referenced: referenced() });
        return;
      case 'HEALTHCHECK': {
        const duration = (name: string) => {
          const v = flags(() => stringFlag(ins, name));
          if (v === undefined || v === '') return undefined;
          const ns = flags(() => parseGoDuration(v));
          if (ns === 0) return undefined;
          if (ns < 1e6) fail(`Interval "${name}" cannot be less than 1ms`);
          return ns;
        };
        const retriesRaw = flags(() => stringFlag(ins, 'retries'));
        let retries: number | undefined;
        if (retriesRaw !== undefined && retriesRaw !== '') {
          if (!/^[+-]?\d+$/.test(retriesRaw)) fail(`strconv.ParseInt: parsing ${JSON.stringify(retriesRaw)}: invalid syntax`);
          retries = Number(retriesRaw);
          if (retries < 0) fail('--retries cannot be negative');
        }
        steps.push({
          ...common,
          kind: 'HEALTHCHECK',
          test: ins.test,
          ...optional('interval', duration('interval')),
          ...optional('timeout', duration('timeout')),
          ...optional('startPeriod', duration('start-period')),
          ...optional('startInterval', duration('start-interval')),
          ...optional('retries', retries),
          referenced: referenced(),
        });
        return;
      }
    }
  });

  return { steps, final: { env, buildArgs } };
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** `<<-` bodies lose their leading tabs. */
function chomp(h: Heredoc): Heredoc {
  return h.chomp ? { ...h, content: h.content.replace(/^\t+/gm, '') } : h;
}

const HEREDOC_WORD = /^(\d*)<<(-?)\s*([^<]*)$/;

/** A COPY/ADD source written as a heredoc marker (`<<EOF`, `<<-"EOF"`): its delimiter name. */
export function heredocSource(word: string): { name: string } | undefined {
  const m = HEREDOC_WORD.exec(word);
  if (!m || m[3] === '') return undefined;
  let name = m[3]!;
  if ((name.startsWith('"') && name.endsWith('"')) || (name.startsWith("'") && name.endsWith("'"))) name = name.slice(1, -1);
  return { name };
}

/**
 * Resolves a `--from` / `from=` value: a stage name (case-insensitive; the last stage of that name), a
 * stage index (COPY only), else an image reference.
 */
export function resolveFrom(graph: Pick<BuildGraph, 'stages'>, raw: string, allowIndex: boolean, fail: (m: string) => never): FromRef {
  if (allowIndex && /^\d+$/.test(raw)) {
    const index = Number(raw);
    if (index >= graph.stages.length) return fail(`invalid stage index ${index}`);
    return { type: 'stage', index };
  }
  const lower = raw.toLowerCase();
  for (let i = graph.stages.length - 1; i >= 0; i--) {
    if (graph.stages[i]!.name === lower) return { type: 'stage', index: i };
  }
  return { type: 'image', ref: raw };
}

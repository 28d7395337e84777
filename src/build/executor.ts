import { createHash } from 'node:crypto';
import type { Instruction } from '../dockerfile/ast.js';
import type { Descriptor } from '../image/descriptor.js';
import type { Digest } from '../image/digest.js';
import type { HistoryEntry, ImageConfig } from '../image/image-config.js';
import { type Image, loadImage, writeImage } from '../image/image.js';
import { MediaType } from '../image/media-types.js';
import { formatPlatform } from '../image/platform.js';
import type { BuildGraph, CopyStep, RunStep, Stage, StageBaseState, Step } from '../plan/build-graph.js';
import { baseFromImageEnv, expandInstructions, type StageInstruction } from '../plan/expand-stage.js';
import type { BlobHold } from '../store/blob-store.js';
import { ImageNotFoundError } from '../store/errors.js';
import { BUILD_CACHE_NAMESPACE, COPY_DIFF_NAMESPACE, type Store } from '../store/store.js';
import { BuildCache } from './build-cache.js';
import type { CacheRecord } from './build-cache.js';
import type { RemoteCache } from './remote-cache/index.js';
import { baseKey, type CacheKey, canonicalStep, stepKey } from './cache-key.js';
import { applyMetadata, baseStageConfig, commandArgs, copyCreatedBy, layerHistoryEntry, runCreatedBy, type StageImageState } from './config.js';
import { ChecksumCache } from './context/checksum-cache.js';
import type { IgnoreFilter, SourceTree } from './context/source-tree.js';
import { parseChmod } from './copy/chmod.js';
import { type CopyPlan, type CopySource, executeCopy, planCopy } from './copy/copy.js';
import { BuildCancelledError, BuildError } from './errors.js';
import type { Progress, Vertex } from './progress/events.js';
import type { ActiveSnapshot, Snapshotter } from './snapshot/snapshotter.js';
import type { MountedRoot, PreparedMounts, SecretSource } from './mounts/types.js';
import { normalizeName } from '../store/names.js';
import { isGitSource } from './sources/git-ref.js';

export interface BuildOptions {
  store: Store;
  graph: BuildGraph;
  /** The build context directory (absolute). */
  contextDir: string;
  /** Which paths of the context .dockerignore removes. */
  ignore?: IgnoreFilter;
  noCache?: boolean;
  /** Stage names (or indexes) whose steps ignore the cache. */
  noCacheFilter?: string[];
  /** Pull base images even when the store has them. */
  pull?: boolean;
  /** `--label`: added to the final image's config. */
  labels?: Record<string, string>;
  /** Default network for RUN: `host` (default, as BuildKit without CNI) or `none`. */
  network?: 'host' | 'none';
  runtime?: 'runc' | 'crun';
  /** SOURCE_DATE_EPOCH, seconds: clamps layer mtimes and sets every `created`. */
  sourceDateEpoch?: number;
  progress: Progress;
  signal?: AbortSignal;
  /** Fetches an image into the store (the registry client); called for a base image not in the store or with `pull`. */
  pullImage?: (ref: string, signal?: AbortSignal) => Promise<void>;
  /** Stages run at once (default 2: the machine has 2 cores). */
  parallelism?: number;
  /** `--cache-from`: asked in order when the local build cache misses a step. */
  remoteCaches?: RemoteCache[];
  /** Overrides the snapshotter (tests). */
  snapshotter?: Snapshotter;
  /** `--secret`: sources by id, read only when a RUN mounts them. */
  secrets?: ReadonlyMap<string, SecretSource>;
  /** `--ssh`: agent sockets by id. */
  sshAgents?: ReadonlyMap<string, string>;
  /** Environment `env=` secrets are read from (default `process.env`). */
  hostEnv?: Readonly<Record<string, string | undefined>>;
}

export interface LayerRef {
  descriptor: Descriptor;
  diffId: Digest;
}

/**
 * A layer a step has just made, while its blob is still being written in the background: its upper
 * dir already serves as a lower for the stage's next steps, so writing the tar (hashing, fsync) of
 * one step overlaps running the next. The stage commits it (renames the dir into the snapshot
 * cache) once it is written and nothing of the stage is mounted any more.
 */
interface PendingLayer {
  readonly dir: string;
  readonly snap: ActiveSnapshot;
  readonly layer: Promise<LayerRef>;
}

type StageLayer = LayerRef | PendingLayer;

function isPending(l: StageLayer): l is PendingLayer {
  return 'layer' in l;
}

/**
 * A stage as it finishes, while its last layers may still be being written: later stages use it
 * (FROM, COPY --from, RUN --mount=from) at once, mounting the pending layers' dirs as lowers.
 */
interface StageRun {
  index: number;
  key: CacheKey;
  /** Without `rootfs` until the build commits the stage's layers. */
  config: ImageConfig;
  layers: StageLayer[];
  final: StageBaseState;
}

/** The result of a stage: its final key, config (history included) and layers. */
export interface StageResult {
  index: number;
  key: CacheKey;
  config: ImageConfig;
  layers: LayerRef[];
  final: StageBaseState;
}

export interface BuildResult {
  image: Image;
  target: StageResult;
  /** Steps that ran (not cached): tests and the benchmark look at these. */
  executed: number;
  cached: number;
  cacheRecords: { all: [CacheKey, CacheRecord][]; finalKeys: CacheKey[] };
}

const LAYER_KINDS = new Set(['RUN', 'COPY', 'ADD', 'WORKDIR']);
const OUTPUT_TAIL = 20;

function isoTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The instruction as BuildKit names a vertex: keyword upper-cased, the rest as written on one line. */
function displayInstruction(ins: Instruction): string {
  const text = ins.original.replace(/\\\r?\n\s*/g, '').replace(/\s*\n\s*/g, ' ').trim();
  const sp = text.search(/\s/);
  return sp < 0 ? text.toUpperCase() : `${text.slice(0, sp).toUpperCase()}${text.slice(sp)}`;
}

/**
 * Runs a BuildGraph: stages in dependency waves (independent ones in parallel), each step looked up
 * in the build cache by its key and, on a miss, executed on an overlay snapshot over its parent's
 * layers (RUN in the OCI runtime, COPY/ADD written into the mount); the upper dir becomes an
 * uncompressed layer and, renamed, the snapshot later steps use. Writes the final image; tagging
 * and exporting are the caller's. On failure or cancellation nothing stays mounted.
 */
export async function executeBuild(opts: BuildOptions): Promise<BuildResult> {
  const ex = new Executor(opts);
  try {
    return await ex.run();
  } finally {
    await ex.close();
  }
}

class Executor {
  private readonly store: Store;
  private readonly graph: BuildGraph;
  private readonly cache: BuildCache;
  /** Layers of COPY steps by what they add alone (copyDiffKey), whatever they were added to. */
  private readonly copyDiffs: BuildCache;
  private readonly abort = new AbortController();
  private readonly results = new Map<number, Promise<StageRun>>();
  private snapshotter: Promise<Snapshotter> | undefined;
  private checksums: ChecksumCache | undefined;
  private hold: BlobHold | undefined;
  private executed = 0;
  private cachedSteps = 0;
  private readonly started = new Date();
  private readonly epochTime: string | undefined;
  private readonly active = new Set<ActiveSnapshot>();
  private readonly pendingHold: Digest[] = [];
  /** The first layer that failed to write in the background; it cancelled the build. */
  private layerFailure: Error | undefined;
  /** Cache records of the steps each stage used, in step order (a pending step's as a promise). */
  private readonly used = new Map<number, Map<CacheKey, CacheRecord | Promise<CacheRecord>>>();

  private recordUsed(stage: number, key: CacheKey, rec: CacheRecord | Promise<CacheRecord>): void {
    let m = this.used.get(stage);
    if (!m) this.used.set(stage, (m = new Map()));
    m.set(key, rec);
  }

  /** Called once every stage has finished, so every record is settled. */
  private async cacheRecords(): Promise<BuildResult['cacheRecords']> {
    const all = await Promise.all([...this.used.values()].flatMap((m) => [...m]).map(async ([k, r]): Promise<[CacheKey, CacheRecord]> => [k, await r]));
    const finalKeys: CacheKey[] = [];
    for (let s: Stage | undefined = this.graph.stages[this.graph.target]; s; s = s.base.type === 'stage' ? this.graph.stages[s.base.index] : undefined) {
      finalKeys.push(...(this.used.get(s.index)?.keys() ?? []));
    }
    return { all, finalKeys };
  }

  constructor(private readonly opts: BuildOptions) {
    this.store = opts.store;
    this.graph = opts.graph;
    this.cache = new BuildCache(opts.store);
    this.copyDiffs = new BuildCache(opts.store, COPY_DIFF_NAMESPACE);
    this.slots = new Slots(opts.parallelism ?? 2);
    this.epochTime = opts.sourceDateEpoch !== undefined ? isoTime(new Date(opts.sourceDateEpoch * 1000)) : undefined;
    if (opts.signal) {
      if (opts.signal.aborted) this.abort.abort(opts.signal.reason);
      else opts.signal.addEventListener('abort', () => this.abort.abort(opts.signal!.reason), { once: true });
    }
  }

  private get signal(): AbortSignal {
    return this.abort.signal;
  }

  private checkAborted(): void {
    if (this.signal.aborted) throw new BuildCancelledError();
  }

  async close(): Promise<void> {
    // Newest first: a pending layer's dir may be a lower of a later step's mount.
    for (const s of [...this.active].reverse()) await s.discard().catch(() => undefined);
    this.active.clear();
    await this.checksums?.save().catch(() => undefined);
    await this.hold?.release().catch(() => undefined);
  }

  /** One detection per build, however many steps ask at once. */
  private getSnapshotter(): Promise<Snapshotter> {
    this.snapshotter ??= (async () => {
      if (this.opts.snapshotter) return this.opts.snapshotter;
      const [{ detectSnapshotter }, { prepareSnapshotRoots }] = await Promise.all([import('./snapshot/detect.js'), import('./snapshot/layer-cache.js')]);
      return detectSnapshotter(await prepareSnapshotRoots(this.store.root));
    })();
    return this.snapshotter;
  }

  async run(): Promise<BuildResult> {
    this.hold = await this.store.hold();
    this.checksums = await ChecksumCache.open(this.store.root, this.opts.contextDir);
    const all: Promise<StageRun>[] = [];
    // Every stage starts at once and runs until a step needs another stage's result; `slots` bounds
    // how many do work at a time, and a stage waiting for another gives its slot up meanwhile.
    for (const wave of this.graph.order) {
      for (const index of wave) {
        const p = this.slotted(() => this.runStage(index));
        this.results.set(index, p);
        p.then(() => this.settled.add(index), () => undefined);
        all.push(p);
        p.catch(() => this.abort.abort(new BuildCancelledError()));
      }
    }
    const settled = await Promise.allSettled(all);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected' && !(s.reason instanceof BuildCancelledError));
    if (failed) throw failed.reason;
    if (this.opts.signal?.aborted) throw new BuildCancelledError();
    const cancelled = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (cancelled) throw cancelled.reason;
    // Only now is nothing mounted: every stage's pending layers can move into the snapshot cache,
    // while the image is written (it needs their digests, not their dirs).
    // Both settle before anything is thrown: close() must not discard a dir being committed.
    const runs = await Promise.all(this.results.values());
    const [written, committed] = await Promise.allSettled([
      (async () => {
        const finished = await Promise.all(runs.map((r) => this.finishStage(r)));
        const target = finished.find((r) => r.index === this.graph.target)!;
        return { target, image: await this.writeFinalImage(target) };
      })(),
      // A stage built FROM another shares its layers: each is committed once.
      Promise.all([...new Set(runs.flatMap((r) => r.layers.filter(isPending)))].map((l) => this.commitLayer(l))),
    ]);
    if (written.status === 'rejected') throw written.reason;
    if (committed.status === 'rejected') throw committed.reason;
    const { image, target } = written.value;
    return { image, target, executed: this.executed, cached: this.cachedSteps, cacheRecords: await this.cacheRecords() };
  }

  private readonly slots: Slots;

  private async slotted<T>(fn: () => Promise<T>): Promise<T> {
    await this.slots.acquire();
    try {
      return await fn();
    } finally {
      this.slots.release();
    }
  }

  /**
   * Waits for stages a step needs, without holding a slot meanwhile (the stages waited for may need
   * it). A failed stage fails the build with its own error; here it only cancels.
   */
  private async waitStages(indexes: readonly number[]): Promise<void> {
    // A stage outside the build is left to the step itself to report.
    const pending = indexes.filter((i) => this.results.has(i) && !this.settled.has(i));
    if (pending.length === 0) return;
    this.slots.release();
    try {
      await Promise.all(pending.map((i) => this.stageResult(i)));
    } catch {
      throw new BuildCancelledError();
    } finally {
      await this.slots.acquire();
    }
    this.checkAborted();
  }

  private readonly settled = new Set<number>();

  private stageResult(index: number): Promise<StageRun> {
    const p = this.results.get(index);
    if (!p) throw new Error(`stage ${index} is not part of this build`);
    return p;
  }

  /** BuildKit's vertex prefix: a named stage's name; `stage-N` when the Dockerfile has several. */
  private stageLabel(stage: Stage): string {
    if (stage.name) return `${stage.name} `;
    return this.graph.stages.length > 1 ? `stage-${stage.index} ` : '';
  }

  /** The FROM vertex as BuildKit names it: the image reference expanded and normalised. */
  private fromDisplay(stage: Stage): string {
    if (stage.base.type === 'scratch') return 'FROM scratch';
    if (stage.base.type === 'stage') {
      const parent = this.graph.stages[stage.base.index];
      return `FROM ${parent?.name ?? `stage-${stage.base.index}`}`;
    }
    const ref = stage.base.ref;
    try {
      // A digest reference stays as written; a name gets its registry and tag, as BuildKit shows it.
      return `FROM ${ref.includes('@') ? ref : normalizeName(ref)}`;
    } catch {
      return `FROM ${ref}`;
    }
  }

  private noCacheFor(stage: Stage): boolean {
    if (this.opts.noCache) return true;
    const f = this.opts.noCacheFilter ?? [];
    return f.some((x) => x.toLowerCase() === stage.name || x === String(stage.index));
  }

  /** The image a base or `--from` names: from the store, pulled when absent (or always with --pull). */
  private readonly pulled = new Map<string, Promise<Image>>();
  private resolveImage(ref: string): Promise<Image> {
    let p = this.pulled.get(ref);
    if (!p) {
      p = (async () => {
        const platform = this.graph.platform;
        if (!this.opts.pull) {
          try {
            return await loadImage(this.store, ref, { platform });
          } catch (e) {
            if (!(e instanceof ImageNotFoundError) || !this.opts.pullImage) throw e;
          }
        }
        if (!this.opts.pullImage) throw new Error(`cannot pull ${ref}: no registry client`);
        await this.opts.pullImage(ref, this.signal);
        return loadImage(this.store, ref, { platform });
      })();
      this.pulled.set(ref, p);
    }
    return p;
  }

  private async runStage(index: number): Promise<StageRun> {
    this.checkAborted();
    const stage = this.graph.stages[index]!;
    const label = this.stageLabel(stage);
    const layerSteps = stage.steps.filter((s) => LAYER_KINDS.has(s.kind)).length;
    const p = this.opts.progress;

    // The base: its config, layers, key and the environment its steps expand against.
    let config: ImageConfig;
    let base: StageLayer[];
    let key: CacheKey;
    let baseState: StageBaseState;
    let onbuild: StageInstruction[] = [];
    const platform = formatPlatform(stage.platform);
    if (stage.base.type === 'stage') await this.waitStages([stage.base.index]);
    const fromVertex = p.vertex(`[${label}1/${layerSteps + 1}] ${this.fromDisplay(stage)}`);
    if (stage.base.type === 'scratch') {
      fromVertex.cached();
      config = baseStageConfig(undefined, stage.platform);
      base = [];
      key = baseKey({ type: 'scratch' }, platform);
      baseState = baseFromImageEnv([], stage.platform.os);
    } else if (stage.base.type === 'image') {
      fromVertex.start();
      const img = await this.resolveImage(stage.base.ref).catch((e: Error) => {
        fromVertex.error(e.message);
        throw new BuildError(fromVertex.name, displayInstruction(stage.from), e.message);
      });
      fromVertex.done();
      config = baseStageConfig(img.config, stage.platform);
      base = img.layers.map((l) => ({ descriptor: l.descriptor, diffId: l.diffId }));
      key = baseKey({ type: 'image', digest: img.descriptor.digest }, platform);
      baseState = baseFromImageEnv(img.config.config?.Env ?? [], stage.platform.os);
      onbuild = await this.onbuildTriggers(img.config.config?.OnBuild ?? []);
    } else {
      fromVertex.cached();
      const parent = await this.stageResult(stage.base.index);
      config = baseStageConfig(parent.config, stage.platform);
      base = [...parent.layers];
      key = baseKey({ type: 'stage', key: parent.key }, platform);
      baseState = parent.final;
    }
    await this.hold!.add(base.flatMap((l) => (isPending(l) ? [] : [l.descriptor.digest])));
    const layers: StageLayer[] = [...base];

    const instructions: StageInstruction[] = [...onbuild, ...stage.steps.map((s) => ({ instruction: s.instruction, ...(s.onbuild ? { onbuild: true } : {}) }))];
    const expanded = expandInstructions(this.graph, stage, instructions, baseState);
    const state: StageImageState = { config, cmdSet: false };
    const noCache = this.noCacheFor(stage);
    this.stageSteps.set(stage.index, expanded.steps);
    let n = 1;
    try {
      for (const step of expanded.steps) {
        this.checkAborted();
        if (!LAYER_KINDS.has(step.kind)) {
          key = stepKey(key, step);
          applyMetadata(state, step, this.epochTime);
          continue;
        }
        n++;
        await this.waitStages(stagesNeeded(step));
        const name = `[${label}${n}/${layerSteps + 1}] ${displayInstruction(step.instruction)}`;
        const result = await this.layerStep(stage, step, state, layers, key, name, noCache);
        key = result.key;
        if (result.layer) layers.push(result.layer);
      }
    } catch (e) {
      // A layer that failed to write cancelled the build: its error is the one to report.
      throw this.layerFailure ?? e;
    }
    if (this.pendingHold.length > 0) await this.hold!.add(this.pendingHold.splice(0));
    return { index, key, config: state.config, layers, final: expanded.final };
  }

  /** A finished stage with its layers written, its rootfs filled. */
  private async finishStage(run: StageRun): Promise<StageResult> {
    const layers = await Promise.all(run.layers.map((l) => (isPending(l) ? l.layer : l)));
    run.config.rootfs = { type: 'layers', diff_ids: layers.map((l) => l.diffId) };
    return { ...run, layers };
  }

  /**
   * Waits for a layer still being written and moves its dir into the snapshot cache. Only when
   * the build is over: until then any mount may use the dir as a lower.
   */
  private async commitLayer(l: PendingLayer): Promise<LayerRef> {
    const { commitSnapshot } = await import('./snapshot/layer-cache.js');
    const layer = await l.layer;
    await commitSnapshot(this.store.root, l.dir, layer.diffId);
    // The upper dir has moved out: this drops the emptied working dir around it.
    await l.snap.discard();
    this.active.delete(l.snap);
    return layer;
  }

  /** ONBUILD triggers of a base image, parsed as Dockerfile instructions. */
  private async onbuildTriggers(triggers: string[]): Promise<StageInstruction[]> {
    if (triggers.length === 0) return [];
    const { parse } = await import('../dockerfile/parser.js');
    const df = parse(triggers.join('\n'), { file: 'ONBUILD' });
    return df.instructions.map((instruction) => ({ instruction, onbuild: true }));
  }

  /** One RUN/COPY/ADD/WORKDIR: cache hit, or run on a snapshot and store the layer. */
  private async layerStep(
    stage: Stage,
    step: Step,
    state: StageImageState,
    layers: StageLayer[],
    parentKey: CacheKey,
    name: string,
    noCache: boolean,
  ): Promise<{ key: CacheKey; layer?: StageLayer }> {
    const conf = (state.config.config ??= {});
    let createdBy: string;
    let copyPlan: CopyPlan | undefined;
    const inputs: string[] = [];
    const vertex = this.opts.progress.vertex(name);
    try {
      switch (step.kind) {
        case 'WORKDIR': {
          applyMetadata(state, step, this.epochTime);
          const wd = conf.WorkingDir ?? '/';
          const h = state.config.history!;
          const entry = h[h.length - 1]!;
          if (wd === '/') {
            vertex.cached();
            return { key: stepKey(parentKey, step) };
          }
          h.pop();
          createdBy = entry.created_by!;
          inputs.push(`user ${conf.User ?? ''}`);
          break;
        }
        case 'RUN':
          createdBy = runCreatedBy(this.runArgs(step, conf.Shell), step.buildArgs, Object.keys(step.buildArgs));
          inputs.push(`workdir ${conf.WorkingDir ?? '/'}`, `user ${conf.User ?? ''}`, `shell ${JSON.stringify(conf.Shell ?? null)}`);
          // Mounts are inputs by what they are and what bind mounts read; never by secret or cache content.
          if (step.mounts.length > 0) inputs.push(`mounts ${await this.mountsKey(step, conf.WorkingDir ?? '/')}`);
          break;
        case 'COPY':
        case 'ADD': {
          createdBy = copyCreatedBy(step);
          inputs.push(`workdir ${conf.WorkingDir ?? '/'}`);
          if (step.from?.type === 'stage') inputs.push(`from-stage ${(await this.stageResult(step.from.index)).key}`);
          else if (step.from?.type === 'image') inputs.push(`from-image ${(await this.resolveImage(step.from.ref)).descriptor.digest}`);
          else {
            // From the context: plan now, so the key covers the content of every input file.
            await this.prefetched.get(step);
            const git: string[] = [];
            copyPlan = await this.planContextCopy(step, conf.WorkingDir ?? '/', undefined, git);
            inputs.push(`copy ${copyPlan.checksum}`, ...git.map((g) => `git ${g}`));
          }
          break;
        }
        default:
          throw new Error(`unexpected step ${step.kind}`);
      }
      const key = stepKey(parentKey, step, inputs);
      if (!noCache) {
        let hit = await this.cache.get(key);
        for (const remote of this.opts.remoteCaches ?? []) {
          if (hit) break;
          hit = await remote.lookup(key, { signal: this.signal });
        }
        if (hit) {
          this.recordUsed(stage.index, key, hit);
          vertex.cached();
          this.cachedSteps++;
          (state.config.history ??= []).push(hit.history);
          // The cache entry's refs keep the layer from GC; the hold is updated once per stage.
          this.pendingHold.push(hit.layer.descriptor.digest);
          return { key, layer: hit.layer };
        }
      }
      vertex.start();
      const made = await this.executeStep(stage, step, state, layers, vertex, copyPlan, !noCache);
      const history = layerHistoryEntry(createdBy!, this.epochTime ?? isoTime(new Date()));
      if (step.kind === 'WORKDIR') history.created_by = createdBy!;
      (state.config.history ??= []).push(history);
      if (!isPending(made)) {
        // An earlier build's layer for the same copy: nothing was written, so record it at once.
        const rec = { layer: made, history };
        await this.cache.set(key, rec);
        this.recordUsed(stage.index, key, rec);
        this.pendingHold.push(made.descriptor.digest);
        this.executed++;
        vertex.done();
        return { key, layer: made };
      }
      const record = made.layer.then(async (layer) => {
        await this.cache.set(key, { layer, history });
        if (made.diffKey) await this.copyDiffs.set(made.diffKey, { layer, history });
        return { layer, history };
      });
      const pending: PendingLayer = { ...made, layer: record.then((r) => r.layer) };
      // Failing to write the layer fails the build at once, under this step's name.
      pending.layer.catch((e: Error) => {
        if (e instanceof BuildCancelledError) return;
        this.layerFailure ??= e;
        this.abort.abort(e);
      });
      this.recordUsed(stage.index, key, record);
      this.executed++;
      vertex.done();
      return { key, layer: pending };
    } catch (e) {
      if (e instanceof BuildError || e instanceof BuildCancelledError) {
        vertex.error(e.message);
        throw e;
      }
      const msg = (e as Error).message;
      vertex.error(msg);
      if (this.signal.aborted) throw new BuildCancelledError();
      throw new BuildError(name, displayInstruction(step.instruction), msg);
    }
  }

  private runArgs(step: RunStep, shell: string[] | undefined): string[] {
    if (step.command.form === 'shell' && step.heredocs.length > 0) {
      const only = step.heredocs.length === 1 && /^<<-?\s*["']?[A-Za-z0-9_]+["']?\s*$/.test(step.command.command.trim());
      if (only) return commandArgs({ form: 'shell', command: step.heredocs[0]!.content }, shell);
      const script = [step.command.command, ...step.heredocs.map((h) => `${h.content}\n${h.name}`)].join('\n');
      return commandArgs({ form: 'shell', command: script }, shell);
    }
    return commandArgs(step.command, shell);
  }

  private contextTree(): SourceTree {
    return { root: this.opts.contextDir, owners: 'root', checksums: this.checksums!, ...(this.opts.ignore ? { ignore: this.opts.ignore } : {}) };
  }

  /**
   * Resolves a COPY/ADD's sources (fetching git repositories, downloading URLs) and checksums them;
   * each git source's checksum is appended to `gitChecksums`.
   */
  private async planContextCopy(step: CopyStep, workdir: string, tree: SourceTree | undefined, gitChecksums: string[] = []): Promise<CopyPlan> {
    const sources: CopySource[] = [];
    let onlyGit = step.kind === 'ADD' && !step.from;
    for (const s of step.sources) {
      const git = step.kind === 'ADD' && !step.from && s.type === 'path' && isGitAddSource(s.path);
      if (!git) onlyGit = false;
      if (s.type === 'heredoc') sources.push({ type: 'inline', name: s.name, content: s.content });
      else if (git) {
        const { fetchGitSource } = await import('./sources/git.js');
        const repo = await fetchGitSource(s.path, { storeRoot: this.store.root, keepGitDir: step.keepGitDir === true, signal: this.signal });
        gitChecksums.push(repo.checksum);
        // The checkout's content, as a directory: its files land in the destination.
        sources.push({ type: 'tree', tree: { root: repo.dir, owners: 'root' }, src: '.' });
      } else if (step.kind === 'ADD' && /^https?:\/\//.test(s.path)) {
        const { downloadUrl } = await import('./download.js');
        const file = await downloadUrl(this.store.root, s.path, step.checksum, this.signal);
        sources.push({ type: 'file', name: file.name, path: file.path, mode: 0o600 });
      } else sources.push({ type: 'tree', tree: tree ?? this.contextTree(), src: s.path });
    }
    return planCopy({
      sources,
      dest: step.dest,
      workdir,
      ...(step.chmod ? { chmod: parseChmod(step.chmod) } : {}),
      exclude: step.exclude,
      parents: step.parents,
      // Archives in a git repository are files of it, not something to extract (as BuildKit).
      unpack: step.kind === 'ADD' && !onlyGit ? step.unpack !== false : step.unpack === true,
    });
  }

  private readonly prefetched = new Map<Step, Promise<void>>();
  /** Each running stage's expanded steps, until a RUN starts checksumming its later COPYs. */
  private readonly stageSteps = new Map<number, readonly Step[]>();

  /**
   * Starts checksumming what the COPY steps after `after` read from the context, while `after`
   * (a RUN) waits on its container: the hashing of a large file then overlaps that wait instead
   * of holding up its own step, or the main thread while it has a step to prepare. Once per
   * stage. The plans are thrown away: their steps plan again, from the checksum cache, and
   * report any error themselves.
   */
  private prefetchChecksums(stage: Stage, after: Step): void {
    const steps = this.stageSteps.get(stage.index);
    if (!steps) return;
    this.stageSteps.delete(stage.index);
    for (const step of steps) {
      if (step.index <= after.index || step.kind !== 'COPY' || step.from || !step.sources.every((s) => s.type === 'path')) continue;
      this.prefetched.set(step, this.planContextCopy(step, '/', undefined).then(() => undefined, () => undefined));
    }
  }

  /** The cache-key part of a RUN's mounts (see mounts/cache-key.ts). */
  private async mountsKey(step: RunStep, workdir: string): Promise<string> {
    const { cacheKeyOf } = await import('./mounts/prepare.js');
    return cacheKeyOf(
      step.mounts,
      {
        stageKey: async (index) => (await this.stageResult(index)).key,
        imageDigest: async (ref) => (await this.resolveImage(ref)).descriptor.digest,
        contextChecksum: async (source) => {
          const src = source.replace(/^\/+/, '') || '.';
          const plan = await planCopy({ sources: [{ type: 'tree', tree: this.contextTree(), src }], dest: '/.tsbuild-mount/', workdir: '/' });
          return plan.checksum;
        },
      },
      workdir,
    );
  }

  /** A read-only view of `layers` (finished stages' or images') for a `from=` mount, discarded with the step's mounts. */
  private async mountLayers(layers: readonly StageLayer[], label: string): Promise<MountedRoot> {
    const snapshotter = await this.getSnapshotter();
    const snap = await snapshotter.prepare(await this.lowers(layers), { label });
    this.active.add(snap);
    return {
      path: snap.rootfs,
      release: async () => {
        await snap.discard();
        this.active.delete(snap);
      },
    };
  }

  /** Everything a RUN's `--mount`s need, prepared for one execution; the caller releases it. */
  private async prepareMounts(stage: Stage, step: RunStep, workdir: string): Promise<PreparedMounts> {
    const { prepareRunMounts } = await import('./mounts/prepare.js');
    let n = 0;
    const label = () => `mnt-${stage.index}-${step.index}-${n++}`;
    return prepareRunMounts(step.mounts, {
      storeRoot: this.store.root,
      contextDir: this.opts.contextDir,
      contextTree: this.contextTree(),
      workdir,
      stageRootfs: async (index) => this.mountLayers((await this.stageResult(index)).layers, label()),
      imageRootfs: async (ref) => this.mountLayers((await this.resolveImage(ref)).layers, label()),
      fromIdentity: async (from) => (from.type === 'stage' ? `stage:${(await this.stageResult(from.index)).key}` : `image:${(await this.resolveImage(from.ref)).descriptor.digest}`),
      secrets: this.opts.secrets ?? new Map(),
      sshAgents: this.opts.sshAgents ?? new Map(),
      ...(this.opts.hostEnv ? { hostEnv: this.opts.hostEnv } : {}),
      signal: this.signal,
    });
  }

  /** Lower snapshot dirs for `layers`, top-most first, unpacking any not yet unpacked. */
  private async lowers(layers: readonly StageLayer[]): Promise<string[]> {
    const { ensureUnpacked } = await import('./snapshot/layer-cache.js');
    const dirs = await Promise.all(layers.map((l) => (isPending(l) ? l.dir : ensureUnpacked(this.store, l))));
    return dirs.reverse();
  }

  /** A writable snapshot over `layers`, tracked so close() discards it if the build stops. */
  private async prepareSnapshot(layers: readonly StageLayer[], label: string): Promise<ActiveSnapshot> {
    const snapshotter = await this.getSnapshotter();
    const snap = await snapshotter.prepare(await this.lowers(layers), { label });
    this.active.add(snap);
    return snap;
  }

  private async withSnapshot<T>(prepared: Promise<ActiveSnapshot>, fn: (snap: ActiveSnapshot) => Promise<T>): Promise<{ snap: ActiveSnapshot; value: T }> {
    const snap = await prepared;
    try {
      const value = await fn(snap);
      return { snap, value };
    } catch (e) {
      await snap.discard().catch(() => undefined);
      this.active.delete(snap);
      throw e;
    }
  }

  /**
   * Runs a step that missed the cache; returns its layer, written in the background, or (a COPY
   * whose diff an earlier build already made, when `reuseDiffs`) that layer, with nothing written.
   */
  private async executeStep(
    stage: Stage,
    step: Step,
    state: StageImageState,
    layers: readonly StageLayer[],
    vertex: Vertex,
    copyPlan: CopyPlan | undefined,
    reuseDiffs: boolean,
  ): Promise<(PendingLayer & { diffKey?: CacheKey }) | LayerRef> {
    const conf = state.config.config ?? {};
    // A COPY --from reads the source stage's (or image's) root filesystem through a read-only view.
    let fromSnap: ActiveSnapshot | undefined;
    const t0 = performance.now();
    // The step's own snapshot is mounted while the --from view is prepared: two mounts at once.
    const prepared = this.prepareSnapshot(layers, `s${stage.index}-${step.index}`);
    prepared.catch(() => undefined);
    try {
      try {
        if ((step.kind === 'COPY' || step.kind === 'ADD') && step.from) {
          const srcLayers = step.from.type === 'stage' ? (await this.stageResult(step.from.index)).layers : (await this.resolveImage(step.from.ref)).layers;
          const snapshotter = await this.getSnapshotter();
          fromSnap = await snapshotter.prepare(await this.lowers(srcLayers), { label: `from-${stage.index}-${step.index}` });
          this.active.add(fromSnap);
          copyPlan = await this.planContextCopy(step, conf.WorkingDir ?? '/', { root: fromSnap.rootfs, owners: 'keep' });
        }
      } catch (e) {
        const snap = await prepared.catch(() => undefined);
        if (snap) {
          await snap.discard().catch(() => undefined);
          this.active.delete(snap);
        }
        throw e;
      }
      let diffKey: CacheKey | undefined;
      const { snap, value: reused } = await this.withSnapshot(prepared, async (snap): Promise<LayerRef | undefined> => {
        switch (step.kind) {
          case 'RUN':
            await this.execRun(stage, step, state, snap.rootfs, vertex);
            break;
          case 'COPY':
          case 'ADD': {
            const plan = copyPlan!;
            if (step.chown) plan.request.chown = await (await import('./copy/owner.js')).resolveChown(snap.rootfs, step.chown);
            if (reuseDiffs) {
              const { copyDiffKey } = await import('./copy/diff-key.js');
              diffKey = await copyDiffKey(plan, snap.rootfs, {
                owner: plan.request.chown ?? { uid: 0, gid: 0 },
                sourceDateEpoch: this.opts.sourceDateEpoch,
                step: [JSON.stringify(canonicalStep(step))],
              });
              const hit = diffKey && (await this.copyDiffs.get(diffKey));
              if (hit) return hit.layer;
            }
            await executeCopy(plan, snap.rootfs);
            break;
          }
          case 'WORKDIR': {
            const { resolveUser } = await import('./runtime/user.js');
            const user = conf.User ? await resolveUser(snap.rootfs, conf.User) : { uid: 0, gid: 0 };
            const mtime = this.opts.sourceDateEpoch !== undefined ? new Date(this.opts.sourceDateEpoch * 1000) : undefined;
            const { RootWriter } = await import('./copy/fs-ops.js');
            await new RootWriter(snap.rootfs).mkdirAll(conf.WorkingDir ?? '/', 0o755, { uid: user.uid, gid: user.gid }, mtime);
            break;
          }
        }
        return undefined;
      });
      if (reused) {
        await snap.discard();
        this.active.delete(snap);
        return reused;
      }
      const t1 = performance.now();
      try {
        await snap.release();
      } catch (e) {
        await snap.discard().catch(() => undefined);
        this.active.delete(snap);
        throw e;
      }
      const t2 = performance.now();
      this.checkAborted();
      // The snapshot stays in `active` until its stage commits it: close() discards it otherwise.
      const layer = this.writeStepLayer(snap.upperdir, vertex.name, step).then((l) => {
        if (process.env.TSBUILD_TRACE) process.stderr.write(`trace ${step.kind} run=${(t1 - t0).toFixed(0)} release=${(t2 - t1).toFixed(0)} layer=${(performance.now() - t2).toFixed(0)}\n`);
        return l;
      });
      return { dir: snap.upperdir, snap, layer, ...(diffKey ? { diffKey } : {}) };
    } finally {
      if (fromSnap) {
        await fromSnap.discard().catch(() => undefined);
        this.active.delete(fromSnap);
      }
    }
  }

  /** The uncompressed layer tar of a finished step's upper dir, written to the store. */
  private async writeStepLayer(upperdir: string, name: string, step: Step): Promise<LayerRef> {
    try {
      const { writeLayer } = await import('../image/layer/write-layer.js');
      const tar = writeLayer(upperdir, { diff: 'overlay', ...(this.opts.sourceDateEpoch !== undefined ? { sourceDateEpoch: this.opts.sourceDateEpoch } : {}), signal: this.signal });
      const info = await this.store.blobs.write(tar, {}, { hold: this.hold!, signal: this.signal });
      // Uncompressed: the blob digest is the diff_id. Compression happens on push/export, once.
      return { descriptor: { mediaType: MediaType.OciLayer, digest: info.digest, size: info.size }, diffId: info.digest };
    } catch (e) {
      if (this.signal.aborted) throw new BuildCancelledError();
      throw new BuildError(name, displayInstruction(step.instruction), `writing the layer: ${(e as Error).message}`);
    }
  }

  private async execRun(stage: Stage, step: RunStep, state: StageImageState, rootfs: string, vertex: Vertex): Promise<void> {
    const conf = state.config.config ?? {};
    const args = this.runArgs(step, conf.Shell);
    const prepared = step.mounts.length > 0 ? await this.prepareMounts(stage, step, conf.WorkingDir || '/') : undefined;
    try {
      this.prefetchChecksums(stage, step);
      await this.execRunMounted(step, conf, args, rootfs, vertex, prepared);
    } finally {
      await prepared?.release();
    }
  }

  private async execRunMounted(step: RunStep, conf: NonNullable<ImageConfig['config']>, args: string[], rootfs: string, vertex: Vertex, prepared: PreparedMounts | undefined): Promise<void> {
    // The mounts' environment (SSH_AUTH_SOCK, env= secrets) is the process's only: not the key, history or config.
    const env = Object.entries({ ...this.graph.proxyEnv, ...step.env, ...(prepared?.env ?? {}) }).map(([k, v]) => `${k}=${v}`);
    const network = step.network === 'none' ? 'none' : step.network === 'host' ? 'host' : (this.opts.network ?? 'host');
    const tail: string[] = [];
    const partial = { stdout: '', stderr: '' };
    const sink = (stream: 'stdout' | 'stderr') => (chunk: Buffer | string) => {
      const text = chunk.toString();
      vertex.log(stream, text);
      const lines = (partial[stream] + text).split('\n');
      partial[stream] = lines.pop()!;
      tail.push(...lines);
      if (tail.length > OUTPUT_TAIL) tail.splice(0, tail.length - OUTPUT_TAIL);
    };
    const { runStep } = await import('./run-step.js');
    const res = await runStep({
      runtime: this.opts.runtime ?? 'runc',
      rootfs,
      args,
      env,
      cwd: conf.WorkingDir || '/',
      user: conf.User ?? '',
      network,
      ...(prepared && prepared.ociMounts.length > 0 ? { mounts: prepared.ociMounts } : {}),
      onStdout: sink('stdout'),
      onStderr: sink('stderr'),
      signal: this.signal,
    });
    if (this.signal.aborted) throw new BuildCancelledError();
    if (res.exitCode !== 0) {
      for (const s of ['stdout', 'stderr'] as const) if (partial[s]) tail.push(partial[s]);
      const command = step.command.form === 'exec' ? JSON.stringify(step.command.args) : args.join(' ');
      throw new BuildError(vertex.name, command, `exit code ${res.exitCode}`, res.exitCode, tail.slice(-OUTPUT_TAIL));
    }
  }

  /**
   * Writes config and manifest of the target stage; the caller names it. The result is remembered
   * by the target's key (and labels, epoch), so a no-op rebuild writes nothing at all.
   */
  private async writeFinalImage(target: StageResult): Promise<Image> {
    const imageKey = `image ${createHash('sha256').update(JSON.stringify([target.key, this.opts.labels ?? {}, this.epochTime ?? null])).digest('hex')}`;
    const kv = this.store.kv(BUILD_CACHE_NAMESPACE);
    const known = await kv.get<Descriptor>(imageKey).catch(() => undefined);
    if (known && (await this.store.blobs.has(known.value.digest))) {
      try {
        const img = await loadImage(this.store, known.value);
        await this.hold!.add([img.descriptor.digest]);
        return img;
      } catch {
        // unreadable: write it again below
      }
    }
    const img = await this.writeNewImage(target);
    await kv.set(imageKey, img.descriptor, { refs: [img.descriptor.digest] });
    return img;
  }

  private async writeNewImage(target: StageResult): Promise<Image> {
    const config: ImageConfig = JSON.parse(JSON.stringify(target.config)) as ImageConfig;
    if (this.opts.labels && Object.keys(this.opts.labels).length > 0) {
      const c = (config.config ??= {});
      c.Labels = { ...(c.Labels ?? {}), ...this.opts.labels };
    }
    const history = config.history ?? [];
    fillCreated(history, this.epochTime);
    const last = [...history].reverse().find((h) => h.created)?.created;
    config.created = this.epochTime ?? last ?? isoTime(this.started);
    return writeImage(this.store, { config, layers: target.layers, hold: this.hold! });
  }
}

/**
 * Like BuildKit's exporter: history entries without a time take the time of the closest earlier
 * entry that has one (or the first later one), so an all-cached rebuild gives the same digest.
 */
function fillCreated(history: HistoryEntry[], epoch: string | undefined): void {
  if (epoch) {
    for (const h of history) if (!h.created || h.comment === 'buildkit.dockerfile.v0') h.created = epoch;
    return;
  }
  let prev: string | undefined = history.find((h) => h.created)?.created;
  for (const h of history) {
    if (h.created) prev = h.created;
    else if (prev) h.created = prev;
  }
}


/** ADD sources fetched with git: what isGitSource names, plus local `file://...git` repositories. */
function isGitAddSource(src: string): boolean {
  if (isGitSource(src)) return true;
  if (!/^file:\/\//i.test(src)) return false;
  return /\.git\/?$/.test(src.split('#', 1)[0]!);
}

/** The stages whose results a step reads (COPY --from, RUN --mount from=). */
function stagesNeeded(step: Step): number[] {
  if ((step.kind === 'COPY' || step.kind === 'ADD') && step.from?.type === 'stage') return [step.from.index];
  if (step.kind === 'RUN') return step.mounts.flatMap((m) => (m.from?.type === 'stage' ? [m.from.index] : []));
  return [];
}

/** A FIFO counting semaphore: p-limit's bound, but a holder can give its slot up while it waits. */
class Slots {
  private free: number;
  private readonly queue: (() => void)[] = [];

  constructor(size: number) {
    this.free = Math.max(1, size);
  }

  acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.queue.push(resolve));
  }

  release(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.free++;
  }
}

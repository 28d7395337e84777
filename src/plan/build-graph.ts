/**
 * The build graph: what the executor consumes. Plain data (JSON-serialisable), produced by `planBuild`
 * (planner.ts) from a Dockerfile AST, and printed by `tsbuild plan`.
 *
 * Expansion and the base image's ENV
 * ----------------------------------
 * Docker expands `$VAR` in ADD COPY ENV EXPOSE LABEL STOPSIGNAL USER VOLUME WORKDIR (and ARG defaults,
 * RUN --mount values, COPY/ADD heredoc bodies) against the stage's environment: the base image's ENV,
 * then the stage's ARGs and ENVs in order. The base image's ENV is only known once the executor has
 * pulled it, so the planner splits the work in two:
 *
 * - The graph's STRUCTURE (stages, bases, `COPY --from` / `RUN --mount from=` edges, waves, `--target`
 *   pruning, which ARGs are in scope and their values) never depends on image ENV: Docker forbids
 *   variables in `--from` / `from=`, and FROM lines see only global ARGs. `planBuild` decides it once.
 * - Step VALUES are produced by the pure `expandStage(graph, stageIndex, base)` (expand-stage.ts),
 *   which the executor calls per stage with the real base environment (`baseFromImageEnv(config.Env)`
 *   for an image, the parent's `ExpandedStage.final` for a stage, `baseFromImageEnv([])` for scratch).
 *   `planBuild` calls it too, assuming an empty image ENV, so `graph.stages[i].steps` are filled for
 *   display; for stages whose base is an image they are PROVISIONAL (`Stage.provisional`).
 *
 * Cache keys must be computed from the steps `expandStage` returns with the real base environment,
 * never from the provisional ones: `ENV P=$PATH:/x` or `COPY $SRC .` depend on the image's ENV.
 */
import type { CommandLine, Dockerfile, FromInstruction, Heredoc, Instruction, KeyValue, SourceRange, Warning } from '../dockerfile/ast.js';
import type { Platform } from '../image/platform.js';

/** A source location for messages: the Dockerfile path and the instruction's range. */
export interface Location extends SourceRange {
  file: string;
}

export interface BuildGraph {
  /** The Dockerfile's path as given to the parser, for messages. */
  file: string;
  /** The escape character in force (`# escape=`): expansion needs it. */
  escapeToken: '\\' | '`';
  /**
   * Every stage of the Dockerfile, in file order, indexed by position. Stages not needed by the target
   * are kept (so indexes stay stable) with `needed: false` and appear in no wave of `order`.
   */
  stages: Stage[];
  /** Index of the stage to build: `--target`, or the last stage. */
  target: number;
  /**
   * Waves of needed stage indexes: every stage's dependencies are in earlier waves, so the stages of one
   * wave can run in parallel. The last wave contains the target.
   */
  order: number[][];
  /**
   * Global ARGs (declared before the first FROM) with their resolved values, after `--build-arg`
   * overrides; only these and the predefined platform ARGs are visible to FROM lines. Unset ones
   * (no default, no override) are absent.
   */
  globalArgs: Record<string, string>;
  /**
   * The predefined ARGs: BUILDPLATFORM/BUILDOS/BUILDARCH/BUILDVARIANT/BUILDOSVERSION,
   * TARGETPLATFORM/TARGETOS/TARGETARCH/TARGETVARIANT/TARGETOSVERSION, TARGETSTAGE. Visible in FROM;
   * inside a stage only after `ARG NAME` redeclares them (as for any global ARG).
   */
  predefinedArgs: Record<string, string>;
  /**
   * Proxy build args given with --build-arg (HTTP_PROXY, https_proxy, NO_PROXY, ALL_PROXY... either
   * case): RUN sees them as env without an ARG, and they stay OUT of cache keys and image history.
   */
  proxyEnv: Record<string, string>;
  /** The `--build-arg` values as given, for reference. */
  buildArgs: Record<string, string>;
  /** The platform being built for (`--platform`, or the host's). */
  platform: Platform;
  /** The build host's platform (BUILDPLATFORM). */
  buildPlatform: Platform;
  /** Parser warnings plus the planner's (unused build args, duplicate stage names, ...). */
  warnings: Warning[];
}

export type StageBase =
  | { type: 'scratch' }
  /** `ref` is the FROM word after global-ARG expansion, as written (not normalised). */
  | { type: 'image'; ref: string; platform?: Platform }
  /** FROM an earlier stage of this Dockerfile, found by name (case-insensitive). */
  | { type: 'stage'; index: number };

export interface Stage {
  index: number;
  /** `AS name`, lower-cased as Docker does. */
  name?: string;
  base: StageBase;
  /** `FROM --platform=...` after expansion, else the target platform. */
  platform: Platform;
  /** True when FROM had an explicit --platform. */
  platformExplicit: boolean;
  /** The FROM instruction itself. */
  from: FromInstruction;
  location: Location;
  /** Steps expanded with the plan-time environment; see `provisional`. */
  steps: Step[];
  /** Stage indexes this stage needs first: its base stage, `COPY --from` stages, `RUN --mount from=` stages. Sorted. */
  dependsOn: number[];
  /**
   * Images (not stages) this stage reads besides its base: `COPY --from=image` and `RUN --mount
   * from=image`. The executor pulls them; each step names its own in its `from` field too.
   */
  imageDeps: string[];
  /** Whether the target needs this stage; unneeded stages are not built. */
  needed: boolean;
  /** True when `steps` were expanded without knowing the base image's ENV (base is an image, or a stage that is). */
  provisional: boolean;
}

/** Where `COPY --from` / `RUN --mount from=` read: a stage of this Dockerfile, or an image. */
export type FromRef = { type: 'stage'; index: number } | { type: 'image'; ref: string };

interface StepBase {
  /** Position within the stage's steps. */
  index: number;
  /** The AST node, unexpanded, as the parser produced it. */
  instruction: Instruction;
  location: Location;
  /**
   * The ARGs in scope at this step with their values (declared in this stage or inherited from a parent
   * stage, after --build-arg overrides and default expansion). RUN sees them as environment variables
   * and they belong in the step's cache key. Unset ARGs (no default, no value) are absent.
   */
  buildArgs: Record<string, string>;
  /**
   * The environment this step is expanded against and that RUN executes with: the base's environment,
   * then ARGs and ENVs of this stage in order (a later one replaces an earlier one of the same name).
   * Excludes `proxyEnv` (add it for RUN, keep it out of cache keys).
   */
  env: Record<string, string>;
  /**
   * Variables this step's expansion referenced: `matched` were set, `unmatched` were not (lint:
   * UndefinedVar). Sorted.
   */
  referenced: { matched: string[]; unmatched: string[] };
  /** True for a trigger inherited from an ONBUILD of the base stage. */
  onbuild?: boolean;
}

export interface RunMount {
  type: 'bind' | 'cache' | 'tmpfs' | 'secret' | 'ssh';
  /** Where it appears in the container; for secret/ssh defaults are applied by the executor. */
  target?: string;
  /** Path inside `from` (bind/cache), or the secret id source. */
  source?: string;
  /** bind/cache: the stage or image the mount reads; absent means the build context (bind) or an empty cache. */
  from?: FromRef;
  /** cache: the cache id (defaults to target); secret/ssh: the id. */
  id?: string;
  /** cache sharing mode; default `shared`. */
  sharing?: 'shared' | 'private' | 'locked';
  /** File mode (cache/secret/ssh), as parsed from octal. */
  mode?: number;
  uid?: number;
  gid?: number;
  /** Read-only: defaults to true for bind/secret/ssh, false for cache/tmpfs. */
  readonly: boolean;
  /** secret/ssh: fail when the secret is not provided. */
  required: boolean;
  /** tmpfs: size limit in bytes. */
  size?: number;
  /** secret: also (or instead) expose as this environment variable. */
  env?: string;
}

export interface RunStep extends StepBase {
  kind: 'RUN';
  /** NOT expanded: the shell (or the exec'd program) does its own expansion. */
  command: CommandLine;
  /** Heredoc bodies, not expanded (the shell expands them); `<<-` tabs already stripped. */
  heredocs: Heredoc[];
  mounts: RunMount[];
  network: 'default' | 'none' | 'host';
  security: 'sandbox' | 'insecure';
}

export type CopySource =
  /** A path (or URL / git ref for ADD) in the context or in `from`, expanded; wildcards not yet matched. */
  | { type: 'path'; path: string }
  /** A heredoc given as a file (`COPY <<EOF /dest`): `name` is the file name, `content` expanded when the delimiter was unquoted. */
  | { type: 'heredoc'; name: string; content: string };

export interface CopyStep extends StepBase {
  kind: 'COPY' | 'ADD';
  sources: CopySource[];
  /** Expanded destination, as written (relative to WORKDIR when relative; resolved by the executor). */
  dest: string;
  /** `--from`: stage (by name or index) or image; absent means the build context. COPY only. */
  from?: FromRef;
  /** `--chown=user:group`, expanded. */
  chown?: string;
  /** `--chmod=0755` (or symbolic), expanded. */
  chmod?: string;
  link: boolean;
  /** `--parents`: keep source directory structure. */
  parents: boolean;
  /** `--exclude` patterns (not expanded, as Docker). */
  exclude: string[];
  /** ADD `--checksum=sha256:...`, expanded. */
  checksum?: string;
  /** ADD `--keep-git-dir`. */
  keepGitDir?: boolean;
  /** ADD `--unpack` (undefined: Docker's default, unpack local archives only). */
  unpack?: boolean;
}

export interface EnvStep extends StepBase {
  kind: 'ENV';
  /** Keys and values expanded (all against the environment before this instruction). */
  pairs: KeyValue[];
}

export interface ArgStep extends StepBase {
  kind: 'ARG';
  /** Each declared ARG with its resolved value (undefined: declared but unset). */
  args: { key: string; value?: string }[];
}

export interface LabelStep extends StepBase {
  kind: 'LABEL';
  pairs: KeyValue[];
}

export interface ExposeStep extends StepBase {
  kind: 'EXPOSE';
  /** Expanded and split (`80/tcp`, `53/udp`, `8000-8010`). */
  ports: string[];
}

export interface VolumeStep extends StepBase {
  kind: 'VOLUME';
  paths: string[];
}

export interface UserStep extends StepBase {
  kind: 'USER';
  user: string;
}

export interface WorkdirStep extends StepBase {
  kind: 'WORKDIR';
  /** Expanded, not yet resolved against the previous WORKDIR (the executor does that). */
  path: string;
}

export interface StopsignalStep extends StepBase {
  kind: 'STOPSIGNAL';
  signal: string;
}

export interface CmdStep extends StepBase {
  kind: 'CMD' | 'ENTRYPOINT';
  /** Not expanded. */
  command: CommandLine;
}

export interface ShellStep extends StepBase {
  kind: 'SHELL';
  args: string[];
}

export interface HealthcheckStep extends StepBase {
  kind: 'HEALTHCHECK';
  test: { type: 'NONE' } | { type: 'CMD'; command: CommandLine };
  /** Durations in nanoseconds, as the image config stores them; absent when not given. */
  interval?: number;
  timeout?: number;
  startPeriod?: number;
  startInterval?: number;
  retries?: number;
}

export interface MaintainerStep extends StepBase {
  kind: 'MAINTAINER';
  name: string;
}

export interface OnbuildStep extends StepBase {
  kind: 'ONBUILD';
  /** The trigger's source text (after `ONBUILD `), as stored in the image config's OnBuild. Not expanded. */
  trigger: string;
}

export type Step =
  | RunStep
  | CopyStep
  | EnvStep
  | ArgStep
  | LabelStep
  | ExposeStep
  | VolumeStep
  | UserStep
  | WorkdirStep
  | StopsignalStep
  | CmdStep
  | ShellStep
  | HealthcheckStep
  | MaintainerStep
  | OnbuildStep;

export type StepKind = Step['kind'];

/** What a stage starts from, for `expandStage`: the environment and ARGs its base hands down. */
export interface StageBaseState {
  /** Ordered environment (KEY -> value). */
  env: Map<string, string>;
  /** ARGs inherited from a parent stage (BuildKit carries a stage's ARGs into stages built FROM it). */
  buildArgs: Map<string, string>;
}

/** The result of expanding one stage. */
export interface ExpandedStage {
  steps: Step[];
  /** The state after the last step: pass it as `base` to stages built FROM this one. */
  final: StageBaseState;
}

export type { Dockerfile };

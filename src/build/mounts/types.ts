import type { FromRef } from '../../plan/build-graph.js';
import type { SourceTree } from '../context/source-tree.js';
import type { OciMount } from '../runtime/spec.js';

/** A mount that could not be prepared (missing secret, bad source path, ...): one line, no stack. */
export class MountError extends Error {
  override name = 'MountError';
}

/** Where a `--secret` comes from on the build host. Read only when a RUN step mounts it. */
export type SecretSource = { type: 'file'; path: string } | { type: 'env'; name: string };

/** A root filesystem handed to a bind/cache mount `from=`; `release` is called by the mounts' release. */
export interface MountedRoot {
  path: string;
  release(): Promise<void>;
}

export interface RunMountContext {
  /** The store root: cache mounts live in `<storeRoot>/cache-mounts`, scratch dirs in `<storeRoot>/tmp`. */
  storeRoot: string;
  /** The build context directory (absolute): bind mounts without `from` read it. */
  contextDir: string;
  /** The context as COPY reads it: with its .dockerignore, bind mounts show what it lets through. */
  contextTree?: SourceTree;
  /** The step's WORKDIR: relative mount targets are resolved against it (as BuildKit does). Default `/`. */
  workdir?: string;
  /**
   * The root filesystem of another stage (`from=<stage>`), mounted or committed. A plain path is the
   * caller's to clean up; a MountedRoot is released with the prepared mounts.
   */
  stageRootfs(stageIndex: number): Promise<string | MountedRoot>;
  /** Same for `from=<image>`. */
  imageRootfs(ref: string): Promise<string | MountedRoot>;
  /**
   * A stable identity of a `from=` source, for cache mounts seeded from it (a seeded cache is a
   * different cache when its seed changes). Default: `stage:<index>` / `image:<ref>`; the executor
   * should pass the stage's cache key and the image's digest.
   */
  fromIdentity?(from: FromRef): string | Promise<string>;
  /** `--secret` sources by id. */
  secrets: ReadonlyMap<string, SecretSource>;
  /** `--ssh` agent sockets by id (`default` for `--ssh default`). */
  sshAgents: ReadonlyMap<string, string>;
  /** Environment `env=` secrets are read from (default `process.env`). */
  hostEnv?: Readonly<Record<string, string | undefined>>;
  signal?: AbortSignal;
}

export interface PreparedMounts {
  /** Pass to `runContainer({ mounts })` (after the standard mounts, in step order). */
  ociMounts: OciMount[];
  /**
   * Environment to ADD to the RUN process: `SSH_AUTH_SOCK` and `env=` secrets. Never put it in the
   * cache key, the history or the image config.
   */
  env: Record<string, string>;
  /** Unlocks caches, unmounts overlays, removes secret copies and agent proxies. Idempotent; call in a finally. */
  release(): Promise<void>;
}

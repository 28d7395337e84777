import { rm } from 'node:fs/promises';
import type { ActiveSnapshot } from './snapshotter.js';

/**
 * What every snapshotter's active snapshot shares: release and discard run once however often they
 * are called (a failing step and its cleanup may both ask), and discard also drops the work dir.
 * Subclasses say only how to release: unmount, or compute the diff.
 */
export abstract class ActiveSnapshotBase implements ActiveSnapshot {
  private released?: Promise<void>;
  private discarded?: Promise<void>;

  constructor(
    protected readonly dir: string,
    readonly rootfs: string,
    readonly upperdir: string,
    readonly lowers: readonly string[],
  ) {}

  release(): Promise<void> {
    this.released ??= this.doRelease();
    return this.released;
  }

  discard(): Promise<void> {
    this.discarded ??= (async () => {
      try {
        await this.release();
      } finally {
        await rm(this.dir, { recursive: true, force: true });
      }
    })();
    return this.discarded;
  }

  protected abstract doRelease(): Promise<void>;
}

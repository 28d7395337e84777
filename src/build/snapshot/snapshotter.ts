/**
 * How a build step gets a root filesystem.
 *
 * A snapshot is a plain directory in overlay format: regular files, dirs, symlinks, devices, plus
 * overlay whiteouts (character devices 0/0: "deleted here") and opaque directories (xattr
 * `trusted.overlay.opaque=y`: "hide everything below from lower layers"). Unpacked layers and committed
 * step diffs are both snapshots, so a step's lowers are simply its parents' snapshot dirs.
 *
 * Life of a step:
 * ```
 * const snap = await snapshotter.prepare([topLayerDir, ..., baseLayerDir]);
 * try {
 *   await runContainer({ rootfs: snap.rootfs, ... });   // or COPY into snap.rootfs
 *   await snap.release();                               // unmount; snap.upperdir is now the final diff
 *   ... write the layer tar from snap.upperdir, then commitSnapshot(root, snap.upperdir, diffId)
 * } catch (e) { await snap.discard(); throw e; }
 * ```
 */
export interface PrepareOptions {
  /** A label used in the working dir's name, for debugging (`step-3`). */
  label?: string;
}

export interface ActiveSnapshot {
  /** The merged, writable root filesystem (an overlay mount point, or a plain copied tree). */
  readonly rootfs: string;
  /**
   * The overlay-style diff of everything written to `rootfs` (new and changed files, whiteouts for
   * deletions, opaque dirs for replaced dirs). Complete only after `release()` (the copy snapshotter
   * computes it then; the overlay one prunes directories that were only copied up). Lives on the same
   * filesystem as the snapshots root, so `commitSnapshot` can rename it into place. After `release()`
   * the caller owns it: commit it, or remove it with `discard()`.
   */
  readonly upperdir: string;
  /** The lower snapshot dirs, top-most first, as given to `prepare`. */
  readonly lowers: readonly string[];
  /** Unmounts `rootfs`, finalises `upperdir` and removes the work dirs; keeps `upperdir`. Idempotent. */
  release(): Promise<void>;
  /** `release()` and remove `upperdir` too (failed or cancelled step). Idempotent. */
  discard(): Promise<void>;
}

export interface Snapshotter {
  readonly kind: 'overlay' | 'copy';
  /**
   * A writable root over `parents` (snapshot dirs, top-most first; empty for `scratch`), with an empty
   * upper dir. Parents are never modified.
   */
  prepare(parents: readonly string[], opts?: PrepareOptions): Promise<ActiveSnapshot>;
}

export { SnapshotError } from './errors.js';
export { OverlaySnapshotter } from './overlay.js';
export { CopySnapshotter } from './copy.js';
export { detectSnapshotter } from './detect.js';

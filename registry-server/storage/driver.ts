import type { Readable, Writable } from 'node:stream';

/**
 * The storage under the registry, in the spirit of distribution's storage drivers: a handful of
 * path-based operations so that everything above it can be tested with an in-memory driver and a
 * disk can later be replaced by object storage. Paths are `/`-separated and absolute (`/blobs/...`);
 * callers only ever build them from validated names, digests and upload ids.
 */
export interface StorageDriver {
  /** A small file read whole (links, manifests). Throws PathNotFoundError. */
  getContent(path: string): Promise<Buffer>;
  /** Replaces a small file atomically: readers see the old content or the new, never a mix. */
  putContent(path: string, content: Uint8Array): Promise<void>;
  /** Streams `[start, end]` (inclusive, both optional) of a file. Throws PathNotFoundError. */
  reader(path: string, range?: { start?: number; end?: number }): Promise<Readable>;
  /** A writer that appends to (or creates) a file; nothing is durable before `commit`. */
  writer(path: string): Promise<FileWriter>;
  /** Throws PathNotFoundError. */
  stat(path: string): Promise<FileInfo>;
  /** Names of the direct children of a directory; [] when it does not exist. */
  list(path: string): Promise<string[]>;
  /** Moves a file durably and atomically, replacing `dest`; the source must be complete. */
  move(source: string, dest: string): Promise<void>;
  /** Deletes a file or a whole directory; absent paths are fine. */
  delete(path: string): Promise<void>;
  /** Marks a file as recently used (garbage collection spares young blobs). */
  touch(path: string): Promise<void>;
  /** Where a file lies on the local filesystem, for drivers that keep files there (sendfile). */
  localFile?(path: string): string;
}

export interface FileInfo {
  size: number;
  modTime: Date;
  isDir: boolean;
}

/** An append stream on one file: `stream` takes the bytes, then `commit` or `cancel`. */
export interface FileWriter {
  /** Size of the file when the writer was opened. */
  readonly startSize: number;
  readonly stream: Writable;
  /** Flushes and closes once `stream` has finished; `sync` also makes the bytes durable. */
  commit(opts?: { sync?: boolean }): Promise<void>;
  /** Drops whatever this writer appended, leaving the file as it was when opened. */
  cancel(): Promise<void>;
}

export class PathNotFoundError extends Error {
  override name = 'PathNotFoundError';
  constructor(readonly path: string) {
    super(`path not found: ${path}`);
  }
}

export function isNotFound(e: unknown): e is PathNotFoundError {
  return e instanceof PathNotFoundError;
}

/** Rejects anything but clean absolute paths, so no caller bug can escape the storage root. */
export function checkPath(path: string): string {
  if (path === '/') return path;
  if (!path.startsWith('/') || path.includes('\0') || path.split('/').some((seg, i) => i > 0 && (seg === '' || seg === '.' || seg === '..'))) {
    throw new Error(`invalid storage path ${JSON.stringify(path)}`);
  }
  return path;
}

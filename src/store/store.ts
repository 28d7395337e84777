import { mkdir, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Digest } from '../image/digest.js';
import type { BlobHold, BlobStore } from './blob-store.js';
import { FsBlobStore } from './fs-blob-store.js';
import { FsImageStore } from './fs-image-store.js';
import { collectGarbage, type GcOptions, type GcResult } from './gc.js';
import { FileHold } from './holds.js';
import type { ImageStore } from './image-store.js';
import { KvNamespace } from './kv-store.js';

/** The key-value namespace of the build cache; `tsbuild prune` empties it. */
export const BUILD_CACHE_NAMESPACE = 'build-cache';
/** COPY diff key -> layer (see copyDiffKey); `tsbuild prune` empties it with the build cache. */
export const COPY_DIFF_NAMESPACE = 'copy-diffs';
/** Memos of derived blobs (e.g. gzip of an uncompressed layer); entries die with their source. */
export const MEMO_NAMESPACE = 'memo';

/**
 * The local store, laid out under `root`:
 *   blobs/<alg>/<hex>   content-addressed blobs (FsBlobStore)
 *   names/<h>.json      image name -> manifest descriptor (FsImageStore)
 *   kv/<ns>/<h>.json    small JSON entries: build cache, memos (KvNamespace)
 *   holds/<pid>-<r>.json digests a running process needs kept (FileHold)
 *   gc.lock             one garbage collection at a time
 */
export interface Store {
  readonly root: string;
  readonly blobs: BlobStore;
  readonly images: ImageStore;
  /** A key-value namespace (created on first write). Names: [a-z0-9-]+. */
  kv(namespace: string): KvNamespace;
  kvNamespaces(): Promise<string[]>;
  /**
   * Keeps `digests` (and everything they reference, when they are manifests or indexes) from GC
   * until `release()`, also against a `tsbuild prune` in another process. A build or pull holds
   * what it writes: pass the hold to `blobs.write(..., { hold })` and new blobs join it before
   * they are committed. Release in a `finally`; a crashed process's holds are ignored.
   */
  hold(digests?: Iterable<Digest>): Promise<BlobHold>;
  /** Mark-and-sweep of unreferenced blobs (see gc.ts for the rules). */
  gc(opts?: GcOptions): Promise<GcResult>;
}

const NAMESPACE_RE = /^[a-z0-9][a-z0-9-]*$/;

class LocalStore implements Store {
  readonly blobs: FsBlobStore;
  readonly images: FsImageStore;

  constructor(readonly root: string) {
    this.blobs = new FsBlobStore(join(root, 'blobs'));
    this.images = new FsImageStore(join(root, 'names'));
  }

  kv(namespace: string): KvNamespace {
    if (!NAMESPACE_RE.test(namespace)) throw new Error(`invalid key-value namespace ${JSON.stringify(namespace)}`);
    return new KvNamespace(namespace, join(this.root, 'kv', namespace));
  }

  async kvNamespaces(): Promise<string[]> {
    try {
      return (await readdir(join(this.root, 'kv'))).filter((n) => NAMESPACE_RE.test(n)).sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }

  async hold(digests: Iterable<Digest> = []): Promise<BlobHold> {
    const h = new FileHold(join(this.root, 'holds'));
    await h.add(digests);
    return h;
  }

  gc(opts?: GcOptions): Promise<GcResult> {
    return collectGarbage(this, opts);
  }
}

/** Opens (creating if needed) the store at `root`. Cheap: no scan, no lock. */
export async function openStore(root: string): Promise<Store> {
  const abs = resolve(root);
  await mkdir(join(abs, 'blobs', 'sha256'), { recursive: true });
  await mkdir(join(abs, 'names'), { recursive: true });
  return new LocalStore(abs);
}

export type { GcOptions, GcResult } from './gc.js';
export type { KvEntry, KvSetOptions } from './kv-store.js';
export { KvNamespace } from './kv-store.js';

import { PassThrough, type Readable } from 'node:stream';
import type { Descriptor } from '../../image/descriptor.js';
import type { Digest } from '../../image/digest.js';
import { decompressed } from '../../image/layer/compression.js';
import { gzipMemoKey } from '../../image/layer/store-layer.js';
import { isIndex } from '../../image/manifest.js';
import { layerCompression } from '../../image/media-types.js';
import type { RegistryClient } from '../../registry/client.js';
import type { ImageSource } from '../../registry/transfer.js';
import type { BlobHold, BlobInfo } from '../../store/blob-store.js';
import { MEMO_NAMESPACE, type Store } from '../../store/store.js';
import { BuildCache, type CacheRecord } from '../build-cache.js';
import type { CacheKey } from '../cache-key.js';
import { CACHE_CONFIG_MEDIA_TYPE, MAX_CACHE_CONFIG_BYTES, parseCacheConfig, type RemoteRecord, uncompressedType } from './cache-format.js';
import { type CacheLocation, cacheLocation, isNotFound, readSmallBlob } from './cache-location.js';
import type { CacheSpec } from './cache-spec.js';
import { CacheImportError } from './errors.js';

export interface RemoteCacheOptions {
  /** Needed for `type=registry`. */
  client?: RegistryClient;
  store: Store;
  signal?: AbortSignal;
  /**
   * Told when the cache is missing or unusable, and when a layer fails to import. As with
   * BuildKit, neither fails the build: the step just runs.
   */
  warn?: (message: string) => void;
}

/** A cache read with `--cache-from`: its key chain in memory, layers fetched on demand. */
export interface RemoteCache {
  /** For messages: `127.0.0.1:5000/app:cache`, `local /dir`. */
  readonly name: string;
  /** Whether a usable cache was found (a missing one answers every lookup with a miss). */
  readonly found: boolean;
  /** How many keys the cache holds. */
  readonly size: number;
  has(key: CacheKey): boolean;
  keys(): CacheKey[];
  /**
   * On a hit: pulls the layer (verified), stores it uncompressed in the local store (the diff_id
   * checked while decompressing; the gzip blob kept and memoised so a later push does not
   * recompress), records it in the local BuildCache and returns the local record. A key the
   * cache does not have, or whose layer fails to import, is a miss (the latter with a warning).
   */
  lookup(key: CacheKey, opts?: { signal?: AbortSignal }): Promise<CacheRecord | undefined>;
}

/**
 * Opens the cache at `spec` (`--cache-from`): reads its manifest and key chain once. A cache
 * that does not exist (first build, wrong tag) or cannot be read is a warning and an empty cache,
 * never an error, as in BuildKit. Only cancellation throws.
 */
export async function openRemoteCache(spec: CacheSpec, opts: RemoteCacheOptions): Promise<RemoteCache> {
  const location = cacheLocation(spec, 'from', opts.client);
  const warn = opts.warn ?? (() => undefined);
  let records = new Map<CacheKey, RemoteRecord>();
  let found = false;
  try {
    const source = location.source(opts.signal);
    const fetched = await source.manifest(location.ref);
    const m = fetched.manifest;
    if (isIndex(m)) throw new CacheImportError(`${fetched.descriptor.digest} is an image index, not a tsbuild cache`);
    if (m.config.mediaType !== CACHE_CONFIG_MEDIA_TYPE) throw new CacheImportError(`not a tsbuild cache (config type ${m.config.mediaType})`);
    records = parseCacheConfig(await readSmallBlob(source, m.config, MAX_CACHE_CONFIG_BYTES), m);
    found = true;
  } catch (e) {
    if (opts.signal?.aborted) throw e;
    warn(`importing cache from ${location.name}: ${isNotFound(e) ? 'not found' : (e as Error).message}`);
  }
  return new ImportedCache(location, records, found, opts.store, warn, opts.signal);
}

class ImportedCache implements RemoteCache {
  private readonly local: BuildCache;
  // One download per layer however many keys (or parallel stages) ask for it.
  private readonly inFlight = new Map<Digest, Promise<Descriptor>>();
  private readonly failed = new Set<Digest>();

  constructor(
    private readonly location: CacheLocation,
    private readonly records: Map<CacheKey, RemoteRecord>,
    readonly found: boolean,
    private readonly store: Store,
    private readonly warn: (message: string) => void,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.local = new BuildCache(store);
  }

  get name(): string {
    return this.location.name;
  }

  get size(): number {
    return this.records.size;
  }

  has(key: CacheKey): boolean {
    return this.records.has(key);
  }

  keys(): CacheKey[] {
    return [...this.records.keys()];
  }

  async lookup(key: CacheKey, opts: { signal?: AbortSignal } = {}): Promise<CacheRecord | undefined> {
    const r = this.records.get(key);
    if (!r || this.failed.has(r.diffId)) return undefined;
    const signal = opts.signal ?? this.signal;
    // The lookup's own hold keeps the new layer from a concurrent prune until the record (whose
    // refs keep it from then on) is written.
    const hold = await this.store.hold([r.diffId]);
    try {
      const descriptor = await this.ensureLayer(r, hold, signal);
      const rec: CacheRecord = { layer: { descriptor, diffId: r.diffId }, history: r.history };
      await this.local.set(key, rec);
      return rec;
    } catch (e) {
      if (signal?.aborted) throw e;
      this.failed.add(r.diffId);
      this.warn(`importing cache from ${this.location.name}: layer ${r.blob.digest} of ${key}: ${(e as Error).message}`);
      return undefined;
    } finally {
      await hold.release();
    }
  }

  /** The layer, uncompressed in the local store: already there, or fetched now. */
  private async ensureLayer(r: RemoteRecord, hold: BlobHold, signal: AbortSignal | undefined): Promise<Descriptor> {
    for (let attempt = 0; ; attempt++) {
      const have = await this.store.blobs.stat(r.diffId);
      if (have) return { mediaType: uncompressedType(r.blob.mediaType), digest: r.diffId, size: have.size };
      let job = this.inFlight.get(r.diffId);
      if (!job) {
        job = this.fetchLayer(r, hold, signal).finally(() => this.inFlight.delete(r.diffId));
        this.inFlight.set(r.diffId, job);
        return job;
      }
      // Another lookup fetched it under its own hold: hold it here too, then check it survived.
      await job;
      if (attempt > 0) return job;
    }
  }

  private async fetchLayer(r: RemoteRecord, hold: BlobHold, signal: AbortSignal | undefined): Promise<Descriptor> {
    const source = this.location.source(signal);
    const wopts = { hold, ...(signal ? { signal } : {}) };
    const local: Descriptor = { mediaType: uncompressedType(r.blob.mediaType), digest: r.diffId, size: 0 };
    if (layerCompression(r.blob.mediaType) === 'none') {
      if (r.blob.digest !== r.diffId) throw new CacheImportError(`uncompressed layer ${r.blob.digest} does not match its diff_id ${r.diffId}`);
      const info = await this.store.blobs.write(source.openBlob(r.blob)(), { digest: r.diffId, ...size(r.diffSize) }, wopts);
      return { ...local, size: info.size };
    }
    const [, tar] = await teeToStore(
      source,
      r,
      (gz) => this.store.blobs.write(gz, { digest: r.blob.digest, size: r.blob.size }, wopts),
      async (raw) => {
        const tarStream = await decompressed(raw);
        // Once the write has failed (the download did), gunzip may still report that failure.
        tarStream.on('error', () => undefined);
        return this.store.blobs.write(tarStream, { digest: r.diffId, ...size(r.diffSize) }, wopts);
      },
    );
    if (layerCompression(r.blob.mediaType) === 'gzip') {
      // As storeLayer does: the gzip form of this layer is known, so a push sends it as is.
      const gz: Descriptor = { mediaType: r.blob.mediaType, digest: r.blob.digest, size: r.blob.size };
      await this.store.kv(MEMO_NAMESPACE).set(gzipMemoKey(r.diffId), gz, { owner: r.diffId, refs: [gz.digest] });
    }
    return { ...local, size: tar.size };
  }
}

function size(n: number | undefined): { size?: number } {
  return n === undefined ? {} : { size: n };
}

/**
 * One download feeding two verified writes: the compressed blob as is, and its decompressed tar.
 * Backpressure follows the slower side; a failure on either side (digest, diff_id, network)
 * stops both, so neither waits forever, and the first real error is reported.
 */
async function teeToStore(
  source: ImageSource,
  r: RemoteRecord,
  writeCompressed: (s: Readable) => Promise<BlobInfo>,
  writeTar: (s: Readable) => Promise<BlobInfo>,
): Promise<[BlobInfo, BlobInfo]> {
  const src = source.openBlob(r.blob)();
  const keep = new PassThrough({ highWaterMark: 1 << 20 });
  const unpack = new PassThrough({ highWaterMark: 1 << 20 });
  let first: unknown;
  const stop = (e: unknown) => {
    first ??= e;
    const err = e instanceof Error ? e : new Error(String(e));
    for (const s of [src, keep, unpack]) if (!s.destroyed) s.destroy(err);
  };
  src.on('error', stop);
  // Their failures reach us through the writes' promises; a stray second 'error' must not crash.
  keep.on('error', () => undefined);
  unpack.on('error', () => undefined);
  src.pipe(keep);
  src.pipe(unpack);
  const guard = <T>(p: Promise<T>) =>
    p.catch((e: unknown) => {
      stop(e);
      throw e;
    });
  const settled = await Promise.allSettled([guard(writeCompressed(keep)), guard(Promise.resolve().then(() => writeTar(unpack)))]);
  if (settled[0].status === 'rejected' || settled[1].status === 'rejected') throw first ?? (settled.find((s) => s.status === 'rejected') as PromiseRejectedResult).reason;
  return [settled[0].value, settled[1].value];
}

import pLimit from 'p-limit';
import type { Descriptor } from '../../image/descriptor.js';
import type { Digest } from '../../image/digest.js';
import { compressedLayer } from '../../image/layer/compressed-layer.js';
import type { RegistryClient } from '../../registry/client.js';
import { type Progress, silentProgress } from '../../registry/progress.js';
import { FileSource, type ImageSource } from '../../registry/transfer.js';
import type { Store } from '../../store/store.js';
import type { CacheRecord } from '../build-cache.js';
import type { CacheKey } from '../cache-key.js';
import { buildCacheDocument, type ExportEntry } from './cache-format.js';
import { bufferBlob, cacheLocation } from './cache-location.js';
import type { CacheSpec } from './cache-spec.js';
import { CacheExportError } from './errors.js';

export interface ExportCacheOptions {
  /** Needed for `type=registry`. */
  client?: RegistryClient;
  signal?: AbortSignal;
  /** Per-layer upload progress (the registry client's renderers). */
  progress?: Progress;
  /**
   * mode=min exports only these keys: the steps whose layers make the final image. Without it,
   * every record given is taken to be the final image's (the caller filtered). mode=max ignores it.
   */
  finalKeys?: Iterable<CacheKey>;
  /** Layers compressed and sent at once (default 2: gzip takes a core). */
  concurrency?: number;
}

export interface ExportCacheResult {
  /** The cache manifest's digest. */
  digest: Digest;
  size: number;
  /** The gzip layer blobs the cache holds. */
  layers: Descriptor[];
  records: number;
}

/**
 * Writes `records` (key -> layer + history, as the executor used them) as a cache at `spec`
 * (`--cache-to`): each layer in its gzip form (compressed once, memoised by the store, so an image
 * push of the same layers reuses it), then the config holding the key chain, then the manifest,
 * tagged last, so a reader never sees a manifest whose blobs are missing. Layers the destination
 * already has are not sent again. Errors name the destination; the caller decides whether
 * `spec.ignoreError` turns them into a warning.
 */
export async function exportCache(store: Store, spec: CacheSpec, records: Iterable<readonly [CacheKey, CacheRecord]>, opts: ExportCacheOptions = {}): Promise<ExportCacheResult> {
  const location = cacheLocation(spec, 'to', opts.client);
  if (location.pinned) throw new CacheExportError(`exporting cache to ${location.name}: a digest cannot be pushed to, name a tag`);
  const final = spec.mode === 'min' && opts.finalKeys ? new Set(opts.finalKeys) : undefined;
  const chosen = new Map<CacheKey, CacheRecord>();
  for (const [key, rec] of records) if (!final || final.has(key)) chosen.set(key, rec);

  const progress = opts.progress ?? silentProgress;
  const signal = opts.signal;
  const sig = signal ? { signal } : {};
  const hold = await store.hold(new Set([...chosen.values()].map((r) => r.layer.descriptor.digest)));
  try {
    const sink = await location.sink(signal);
    const source = new FileSource('local store', store.blobs);
    const limit = pLimit(opts.concurrency ?? 2);
    // One job per distinct layer: compress (or reuse the memo), then send unless already there.
    const jobs = new Map<Digest, Promise<Descriptor>>();
    const sendLayer = (layer: Descriptor): Promise<Descriptor> => {
      let job = jobs.get(layer.digest);
      if (!job) {
        job = limit(async () => {
          const gz = await compressedLayer(store, layer, 'gzip', { hold, ...sig });
          const blob: Descriptor = { mediaType: gz.mediaType, digest: gz.digest, size: gz.size };
          progress.start(blob.digest, blob.size);
          const status = await sink.putBlob(blob, source.openBlob(blob), source, (n) => progress.advance(blob.digest, n));
          progress.done(blob.digest, status);
          return blob;
        });
        jobs.set(layer.digest, job);
      }
      return job;
    };
    const entries: ExportEntry[] = await settleAll(
      [...chosen].map(async ([key, rec]) => {
        const d = rec.layer.descriptor;
        return {
          key,
          history: rec.history,
          blob: await sendLayer(d),
          diffId: rec.layer.diffId,
          // An uncompressed store layer is its own diff: its size is the tar's, checked on import.
          ...(d.digest === rec.layer.diffId ? { diffSize: d.size } : {}),
        };
      }),
    );
    const doc = buildCacheDocument(spec.mode, entries);
    // The config is in memory, not in the store: its own source, so a sink that reads the source
    // directly (RegistrySink uploads `openUnverified` bytes) never looks for it in the store.
    const configBlob = bufferBlob(doc.configBytes);
    const configSource: ImageSource = {
      name: 'cache config',
      ranged: false,
      manifest: () => Promise.reject(new Error('a cache config source has no manifests')),
      openBlob: () => configBlob,
    };
    await sink.putBlob(doc.configDescriptor, configBlob, configSource, () => undefined);
    await sink.putManifest(doc.manifestDescriptor, doc.manifestBytes, location.ref);
    return { digest: doc.manifestDescriptor.digest, size: doc.manifestDescriptor.size, layers: doc.manifest.layers, records: doc.config.records.length };
  } catch (e) {
    if (signal?.aborted) throw e;
    throw new CacheExportError(`exporting cache to ${location.name}: ${(e as Error).message}`);
  } finally {
    progress.close();
    await hold.release();
  }
}

/** Like Promise.all, but waits for every job before rejecting, so no upload outlives the call. */
async function settleAll<T>(jobs: Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(jobs);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

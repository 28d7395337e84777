import type { Descriptor } from '../image/descriptor.js';
import type { Digest } from '../image/digest.js';
import type { HistoryEntry } from '../image/image-config.js';
import { BUILD_CACHE_NAMESPACE, type Store } from '../store/store.js';
import type { CacheKey } from './cache-key.js';

/** What a cached step produced: its layer (uncompressed, in the store) and its history entry. */
export interface CacheRecord {
  layer: { descriptor: Descriptor; diffId: Digest };
  history: HistoryEntry;
}

/**
 * key -> result of a layer step, in a key-value namespace of the store (`build-cache` unless told;
 * one file per key, replaced atomically). An entry whose layer blob is gone (pruned) is a miss,
 * never an error.
 */
export class BuildCache {
  constructor(
    private readonly store: Store,
    private readonly namespace = BUILD_CACHE_NAMESPACE,
  ) {}

  async get(key: CacheKey): Promise<CacheRecord | undefined> {
    const e = await this.store.kv(this.namespace).get<CacheRecord>(key);
    if (!e) return undefined;
    if (!(await this.store.blobs.has(e.value.layer.descriptor.digest))) return undefined;
    return e.value;
  }

  async set(key: CacheKey, rec: CacheRecord): Promise<void> {
    await this.store.kv(this.namespace).set(key, rec, { refs: [rec.layer.descriptor.digest] });
  }
}

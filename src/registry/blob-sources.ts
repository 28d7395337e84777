import type { Digest } from '../image/digest.js';
import type { KvNamespace } from '../store/kv-store.js';

/**
 * Where blobs were last seen in registries, so a push can mount a layer from a sibling
 * repository of the same registry instead of uploading it again.
 */
export interface BlobSources {
  seen(registry: string, repository: string, digest: Digest): Promise<void>;
  /** Repositories of `registry` known to hold `digest`, most recent first. */
  where(registry: string, digest: Digest): Promise<string[]>;
}

interface Seen {
  registry: string;
  repository: string;
}

/** A few places per blob are plenty: any one of them mounts. */
const MAX_PER_BLOB = 8;

function remember(list: Seen[], registry: string, repository: string): Seen[] {
  return [{ registry, repository }, ...list.filter((s) => s.registry !== registry || s.repository !== repository)].slice(0, MAX_PER_BLOB);
}

/** For one process (copy, tests). */
export class MemoryBlobSources implements BlobSources {
  private readonly map = new Map<Digest, Seen[]>();
  async seen(registry: string, repository: string, digest: Digest): Promise<void> {
    this.map.set(digest, remember(this.map.get(digest) ?? [], registry, repository));
  }
  async where(registry: string, digest: Digest): Promise<string[]> {
    return (this.map.get(digest) ?? []).filter((s) => s.registry === registry).map((s) => s.repository);
  }
}

/**
 * Kept in the local store's key-value area, one entry per blob, owned by the blob so the record
 * disappears when GC removes the blob. Lost updates between concurrent processes only cost a mount.
 */
export class StoreBlobSources implements BlobSources {
  private readonly memory = new MemoryBlobSources();
  constructor(private readonly kv: KvNamespace) {}

  async seen(registry: string, repository: string, digest: Digest): Promise<void> {
    await this.memory.seen(registry, repository, digest);
    const prev = (await this.kv.get<Seen[]>(digest).catch(() => undefined))?.value;
    const list = remember(Array.isArray(prev) ? prev : [], registry, repository);
    await this.kv.set(digest, list, { owner: digest }).catch(() => undefined);
  }

  async where(registry: string, digest: Digest): Promise<string[]> {
    const prev = (await this.kv.get<Seen[]>(digest).catch(() => undefined))?.value;
    const fromStore = Array.isArray(prev) ? prev.filter((s) => s.registry === registry).map((s) => s.repository) : [];
    return [...new Set([...(await this.memory.where(registry, digest)), ...fromStore])];
  }
}

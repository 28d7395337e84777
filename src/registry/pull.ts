import pLimit from 'p-limit';
import type { Descriptor } from '../image/descriptor.js';
import type { Digest } from '../image/digest.js';
import { isIndex, type Manifest } from '../image/manifest.js';
import { formatPlatform, hostPlatform, type Platform, platformMatches } from '../image/platform.js';
import { formatReference, type Reference } from '../image/reference.js';
import { recycleBodyChunk } from '../net/bulk-request.js';
import type { BlobHold } from '../store/blob-store.js';
import type { Store } from '../store/store.js';
import type { BlobSources } from './blob-sources.js';
import type { RegistryClient } from './client.js';
import { RegistryError } from './errors.js';
import { type Progress, silentProgress } from './progress.js';

export interface PullOptions {
  /** Platform to pick from an index; the host's by default. */
  platform?: Platform;
  /** Blobs downloaded at once. */
  concurrency?: number;
  progress?: Progress;
  sources?: BlobSources;
  signal?: AbortSignal;
}

export interface PullResult {
  /** The stored name (`docker.io/library/busybox:latest`); absent for a digest-only reference. */
  name?: string;
  /** What the reference resolved to in the registry (the index for multi-platform images). */
  digest: Digest;
  /** The single-platform manifest stored (and named). */
  manifest: Descriptor;
  /** Blobs actually downloaded (the rest were already in the store). */
  downloaded: number;
}

/** Picks the manifest for `platform` in an index, or says which platforms there are. */
export function choosePlatform(registry: string, what: string, manifests: Descriptor[], platform: Platform): Descriptor {
  const found = manifests.find((d) => platformMatches(platform, d.platform));
  if (found) return found;
  const have = manifests.map((d) => (d.platform ? formatPlatform(d.platform) : 'unknown')).join(', ');
  throw new RegistryError(registry, `${what}: no manifest for ${formatPlatform(platform)} (has: ${have || 'none'})`, undefined, 'MANIFEST_UNKNOWN');
}

/**
 * Pulls an image into the store: the manifest (through an index to the wanted platform), then
 * config and layers concurrently, each verified against its digest while it streams into the
 * store, skipping blobs already there; the manifest is committed last and then named.
 */
export async function pull(client: RegistryClient, store: Store, ref: Reference, opts: PullOptions = {}): Promise<PullResult> {
  const progress = opts.progress ?? silentProgress;
  const what = formatReference(ref);
  const first = await client.getManifest(ref, ref.digest ?? ref.tag ?? 'latest', opts.signal ? { signal: opts.signal } : {});
  let fetched = first;
  let platform: Platform | undefined;
  for (let depth = 0; isIndex(fetched.manifest); depth++) {
    if (depth > 2) throw new RegistryError(ref.registry, `${what}: indexes nested too deep`);
    const chosen = choosePlatform(ref.registry, what, fetched.manifest.manifests, opts.platform ?? hostPlatform());
    platform = chosen.platform;
    fetched = await client.getManifest(ref, chosen.digest, opts.signal ? { signal: opts.signal } : {});
  }
  const manifest = fetched.manifest as Manifest;
  const hold: BlobHold = await store.hold([fetched.descriptor.digest, manifest.config.digest, ...manifest.layers.map((l) => l.digest)]);
  try {
    const limit = pLimit(opts.concurrency ?? 4);
    let downloaded = 0;
    const download = async (desc: Descriptor, isConfig: boolean): Promise<void> => {
      if (await store.blobs.has(desc.digest)) {
        if (!isConfig) progress.done(desc.digest, 'Already exists');
        return;
      }
      if (!isConfig) progress.start(desc.digest, desc.size);
      // Chunks straight from the response into the store, which hashes and writes them.
      const chunks = client.blobChunks(ref, desc, {
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(isConfig ? {} : { onBytes: (n: number) => progress.advance(desc.digest, n) }),
      });
      await store.blobs.write(chunks, { digest: desc.digest, size: desc.size }, { hold, recycle: recycleBodyChunk, ...(opts.signal ? { signal: opts.signal } : {}) });
      downloaded++;
      await opts.sources?.seen(ref.registry, ref.repository, desc.digest).catch(() => undefined);
      if (!isConfig) progress.done(desc.digest, 'Pull complete');
    };
    const layers = [...new Map(manifest.layers.map((l) => [l.digest, l])).values()].filter((l) => l.digest !== manifest.config.digest);
    // The config is small: it does not take one of the layers' slots.
    await Promise.all([download(manifest.config, true), ...layers.map((l) => limit(() => download(l, false)))]);
    await store.blobs.writeBytes(fetched.bytes, { digest: fetched.descriptor.digest, size: fetched.descriptor.size }, { hold });
    const target: Descriptor = { ...fetched.descriptor, ...(platform ? { platform } : {}) };
    let name: string | undefined;
    if (ref.tag) {
      name = formatReference({ registry: ref.registry, repository: ref.repository, tag: ref.tag });
      await store.images.set(name, target);
    }
    return { ...(name ? { name } : {}), digest: first.descriptor.digest, manifest: target, downloaded };
  } finally {
    progress.close();
    await hold.release();
  }
}

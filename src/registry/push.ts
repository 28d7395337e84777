import type { Descriptor } from '../image/descriptor.js';
import type { Digest } from '../image/digest.js';
import { lookupImage } from '../image/image.js';
import { compressedLayer } from '../image/layer/compressed-layer.js';
import { formatReference, type Reference } from '../image/reference.js';
import type { Store } from '../store/store.js';
import type { BlobSources } from './blob-sources.js';
import type { RegistryClient } from './client.js';
import type { Progress } from './progress.js';
import { FileSource, RegistrySink, transfer } from './transfer.js';

export interface PushOptions {
  concurrency?: number;
  progress?: Progress;
  sources?: BlobSources;
  /**
   * Turns a stored layer into the one to send. By default uncompressed layers (the builder keeps
   * them so) become gzip, compressed once and remembered by the store.
   */
  mapLayer?: (layer: Descriptor) => Promise<Descriptor>;
  signal?: AbortSignal;
}

export interface PushResult {
  /** The tag pushed, when the destination has one. */
  tag?: string;
  digest: Digest;
  size: number;
}

/**
 * Pushes an image of the local store (`local` is anything `tsbuild images` names) to `dest`:
 * blobs first (HEAD to skip, mount from a sibling repository, else upload), then manifests, the
 * index last. The result is what docker prints: `<tag>: digest: <digest> size: <n>`.
 */
export async function push(client: RegistryClient, store: Store, local: string, dest: Reference, opts: PushOptions = {}): Promise<PushResult> {
  const { descriptor } = await lookupImage(store, local);
  const hold = await store.hold([descriptor.digest]);
  try {
    const sink = new RegistrySink(client, dest, opts.sources, opts.signal);
    const source = new FileSource('local store', store.blobs);
    const sent = await transfer(source, sink, descriptor, dest.tag, {
      ...(opts.concurrency ? { concurrency: opts.concurrency } : {}),
      ...(opts.progress ? { progress: opts.progress } : {}),
      mapLayer: opts.mapLayer ?? ((l) => compressedLayer(store, l, 'gzip', { hold, ...(opts.signal ? { signal: opts.signal } : {}) })),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    if (dest.digest && dest.digest !== sent.digest) {
      throw new Error(`pushed ${formatReference(dest)} but the image's digest is ${sent.digest}`);
    }
    return { ...(dest.tag ? { tag: dest.tag } : {}), digest: sent.digest, size: sent.size };
  } finally {
    await hold.release();
  }
}

/** docker's last line of a push. */
export function pushSummary(r: PushResult): string {
  return `${r.tag ?? 'digest'}: digest: ${r.digest} size: ${r.size}`;
}

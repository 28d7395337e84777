import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { BlobHold } from '../../store/blob-store.js';
import { MEMO_NAMESPACE, type Store } from '../../store/store.js';
import { DigestingStream } from '../../store/verify.js';
import type { Descriptor } from '../descriptor.js';
import type { Digest } from '../digest.js';
import { MediaType } from '../media-types.js';

export type StoreCompression = 'none' | 'gzip';

export interface StoreLayerOptions {
  /** `none` (the builder's default: fast, compressed later on demand) or `gzip`. */
  compression: StoreCompression;
  /** zlib level for gzip (default 6, as docker and `gzip` use). */
  level?: number;
  hold?: BlobHold;
  signal?: AbortSignal;
}

export interface StoredLayer {
  descriptor: Descriptor;
  diffId: Digest;
}

/** Memo key of the compressed form of an uncompressed layer. */
export function gzipMemoKey(uncompressed: Digest): string {
  return `gzip:${uncompressed}`;
}

/**
 * Streams an uncompressed layer tar into the store, digesting it (the diff_id) and, after optional
 * gzip, the blob digest in the same single pass. For gzip, the memo of its compressed form is
 * recorded too, so a later push of the same tree reuses it.
 */
export async function storeLayer(store: Store, tarStream: Readable, opts: StoreLayerOptions): Promise<StoredLayer> {
  const diff = new DigestingStream({ mismatch: () => new Error('unreachable') });
  const gzip = opts.compression === 'gzip';
  const stages: NodeJS.ReadWriteStream[] = [diff];
  if (gzip) stages.push(createGzip({ level: opts.level ?? 6, chunkSize: 1 << 20 }));
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  const piping = pipeline([tarStream, ...stages, out] as unknown as [Readable, PassThrough], ...(opts.signal ? [{ signal: opts.signal }] : [])) as Promise<void>;
  const writeOpts = { ...(opts.hold ? { hold: opts.hold } : {}), ...(opts.signal ? { signal: opts.signal } : {}) };
  const [, info] = await Promise.all([piping, store.blobs.write(out, {}, writeOpts)]);
  const diffId = diff.result!.digest;
  const descriptor: Descriptor = { mediaType: gzip ? MediaType.OciLayerGzip : MediaType.OciLayer, digest: info.digest, size: info.size };
  if (!gzip && diffId !== info.digest) throw new Error(`layer digest ${info.digest} differs from its diff_id ${diffId}`);
  if (gzip) await store.kv(MEMO_NAMESPACE).set(gzipMemoKey(diffId), descriptor, { owner: descriptor.digest, refs: [descriptor.digest] });
  return { descriptor, diffId };
}

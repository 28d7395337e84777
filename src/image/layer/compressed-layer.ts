import { pipeline } from 'node:stream/promises';
import { PassThrough } from 'node:stream';
import { createGzip } from 'node:zlib';
import type { BlobHold } from '../../store/blob-store.js';
import { MEMO_NAMESPACE, type Store } from '../../store/store.js';
import { type Descriptor, parseDescriptor } from '../descriptor.js';
import { type Image, loadImage, writeImage } from '../image.js';
import { layerCompression, MediaType } from '../media-types.js';
import { gzipMemoKey } from './store-layer.js';

export interface CompressOptions {
  level?: number;
  hold?: BlobHold;
  signal?: AbortSignal;
}

const GZIP_TYPE: Record<string, string> = {
  [MediaType.OciLayer]: MediaType.OciLayerGzip,
  [MediaType.OciLayerNondistributable]: MediaType.OciLayerNondistributableGzip,
  [MediaType.DockerLayer]: MediaType.DockerLayerGzip,
};

// One compression per layer at a time in this process; other processes may race, harmlessly
// (same bytes, same digest, atomic renames).
const inFlight = new Map<string, Promise<Descriptor>>();

/**
 * The gzip form of a stored layer. Already-compressed layers are returned as they are. For an
 * uncompressed one, a memo (uncompressed digest -> gzip descriptor, in the store's memo namespace,
 * kept only while the uncompressed blob lives) answers at once when the gzip blob is still
 * present; otherwise the layer is compressed once, streaming, and the memo written.
 */
export async function compressedLayer(store: Store, layer: Descriptor, compression: 'gzip', opts: CompressOptions = {}): Promise<Descriptor> {
  if (layerCompression(layer.mediaType) !== 'none') return layer;
  const key = gzipMemoKey(layer.digest);
  const memo = store.kv(MEMO_NAMESPACE);
  const hit = await memo.get(key);
  if (hit) {
    const d = parseDescriptor(hit.value, `memo ${key}`);
    if (await store.blobs.has(d.digest)) {
      await opts.hold?.add([d.digest]);
      return { ...d, mediaType: GZIP_TYPE[layer.mediaType] ?? d.mediaType, ...(layer.annotations ? { annotations: layer.annotations } : {}) };
    }
  }
  let job = inFlight.get(key);
  if (!job) {
    job = (async () => {
      const gz = createGzip({ level: opts.level ?? 6, chunkSize: 1 << 20 });
      const out = new PassThrough({ highWaterMark: 1 << 20 });
      const writeOpts = { ...(opts.hold ? { hold: opts.hold } : {}), ...(opts.signal ? { signal: opts.signal } : {}) };
      const [, info] = await Promise.all([pipeline(store.blobs.open(layer.digest), gz, out), store.blobs.write(out, {}, writeOpts)]);
      const d: Descriptor = { mediaType: GZIP_TYPE[layer.mediaType] ?? MediaType.OciLayerGzip, digest: info.digest, size: info.size };
      await memo.set(key, d, { owner: layer.digest, refs: [d.digest] });
      return d;
    })().finally(() => inFlight.delete(key));
    inFlight.set(key, job);
  }
  const d = await job;
  return { ...d, mediaType: GZIP_TYPE[layer.mediaType] ?? d.mediaType, ...(layer.annotations ? { annotations: layer.annotations } : {}) };
}

/**
 * An image in the form registries and archives expect: every layer gzip, the manifest rewritten
 * (same config: diff_ids do not change). Returns the image unchanged when it already is.
 * Compresses layers one after another: each already takes a core.
 */
export async function distributableImage(store: Store, ref: string | Descriptor | Image, opts: CompressOptions = {}): Promise<Image> {
  const img = typeof ref === 'object' && 'manifest' in ref ? ref : await loadImage(store, ref);
  if (img.layers.every((l) => layerCompression(l.descriptor.mediaType) !== 'none')) return img;
  const layers = [];
  for (const l of img.layers) layers.push({ descriptor: await compressedLayer(store, l.descriptor, 'gzip', opts), diffId: l.diffId });
  const docker = img.manifest.mediaType === MediaType.DockerManifest;
  return writeImage(store, {
    config: img.config,
    configDescriptor: img.manifest.config,
    layers,
    format: docker ? 'docker' : 'oci',
    ...(img.manifest.annotations ? { annotations: img.manifest.annotations } : {}),
    ...(opts.hold ? { hold: opts.hold } : {}),
  });
}

import type { Descriptor } from '../../image/descriptor.js';
import { type Digest, digestOf } from '../../image/digest.js';
import { ImageFormatError } from '../../image/errors.js';
import type { HistoryEntry } from '../../image/image-config.js';
import type { Manifest } from '../../image/manifest.js';
import { MediaType } from '../../image/media-types.js';
import { array, digest, integer, object, parseJson } from '../../image/validate.js';
import type { CacheKey } from '../cache-key.js';
import type { CacheMode } from './cache-spec.js';

/**
 * The exported cache is an ordinary OCI image manifest, so any registry (and any OCI layout
 * tool) stores and garbage-collects it like an image:
 *
 *   manifest.config  -> this config blob (CACHE_CONFIG_MEDIA_TYPE), the key chain:
 *                       { schemaVersion: 1, mode, layers: [{ digest, diffId, diffSize? }],
 *                         records: [{ key, layer, history }] }
 *   manifest.layers  -> the cached layers, gzip, as pushed images have them; layers[i] of the
 *                       config describes manifest.layers[i] (same digest, checked on read)
 *
 * A record maps a CacheKey to the index of its layer and the history entry of its step. Parent
 * links are not stored: a key already hashes its parent's key, so a lookup by key needs no chain,
 * and a key no build asks for again is simply never looked up. Layers are deduplicated (two keys
 * with the same content share one blob). Everything is sorted (layers by diffId, records by key)
 * so the same records always give the same manifest digest and a re-export of an unchanged cache
 * uploads nothing.
 */
export const CACHE_CONFIG_MEDIA_TYPE = 'application/vnd.tsbuild.cache.config.v1+json';

/** Config blobs larger than this are refused rather than buffered (about 100k records). */
export const MAX_CACHE_CONFIG_BYTES = 32 * 1024 * 1024;

export interface CacheLayerEntry {
  /** The blob in the manifest's layers (gzip). */
  digest: Digest;
  /** Digest of the uncompressed tar: the local store's blob, verified when decompressing. */
  diffId: Digest;
  /** Size of the uncompressed tar, when known: checked too. */
  diffSize?: number;
}

export interface CacheRecordEntry {
  key: CacheKey;
  /** Index into `layers`. */
  layer: number;
  history: HistoryEntry;
}

export interface CacheConfig {
  schemaVersion: 1;
  mode: CacheMode;
  layers: CacheLayerEntry[];
  records: CacheRecordEntry[];
}

/** One record to export: its key, its step's history, and its layer in distributable (gzip) form. */
export interface ExportEntry {
  key: CacheKey;
  history: HistoryEntry;
  /** The compressed layer blob, as it goes into the manifest. */
  blob: Descriptor;
  diffId: Digest;
  diffSize?: number;
}

export interface CacheDocument {
  config: CacheConfig;
  configBytes: Buffer;
  configDescriptor: Descriptor;
  manifest: Manifest;
  manifestBytes: Buffer;
  manifestDescriptor: Descriptor;
}

/** What a lookup finds for a key: the remote blob to fetch and what it must decompress to. */
export interface RemoteRecord {
  blob: Descriptor;
  diffId: Digest;
  diffSize?: number;
  history: HistoryEntry;
}

const byString = <T>(f: (x: T) => string) => (a: T, b: T) => (f(a) < f(b) ? -1 : f(a) > f(b) ? 1 : 0);

/** Builds the config and manifest for `entries` (pure: same entries, same bytes). */
export function buildCacheDocument(mode: CacheMode, entries: Iterable<ExportEntry>): CacheDocument {
  const blobs = new Map<Digest, ExportEntry>();
  const records = new Map<CacheKey, ExportEntry>();
  for (const e of entries) {
    const seen = blobs.get(e.diffId);
    // Whichever record comes first, the layer entry is the same (a known size wins).
    if (!seen || (seen.diffSize === undefined && e.diffSize !== undefined)) blobs.set(e.diffId, e);
    records.set(e.key, e);
  }
  const layerEntries = [...blobs.values()].sort(byString((e) => e.diffId));
  const indexOf = new Map(layerEntries.map((e, i) => [e.diffId, i]));
  const config: CacheConfig = {
    schemaVersion: 1,
    mode,
    layers: layerEntries.map((e) => ({ digest: e.blob.digest, diffId: e.diffId, ...(e.diffSize !== undefined ? { diffSize: e.diffSize } : {}) })),
    records: [...records.values()].sort(byString((e) => e.key)).map((e) => ({ key: e.key, layer: indexOf.get(e.diffId)!, history: cleanHistory(e.history) })),
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDescriptor: Descriptor = { mediaType: CACHE_CONFIG_MEDIA_TYPE, digest: digestOf(configBytes), size: configBytes.length };
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: configDescriptor,
    layers: layerEntries.map((e) => ({ mediaType: e.blob.mediaType, digest: e.blob.digest, size: e.blob.size })),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return {
    config,
    configBytes,
    configDescriptor,
    manifest,
    manifestBytes,
    manifestDescriptor: { mediaType: MediaType.OciManifest, digest: digestOf(manifestBytes), size: manifestBytes.length },
  };
}

/** Only the history fields of the image spec, with their types, survive (the config is untrusted). */
function cleanHistory(v: unknown): HistoryEntry {
  const o = typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  const h: HistoryEntry = {};
  for (const k of ['created', 'created_by', 'author', 'comment'] as const) if (typeof o[k] === 'string') h[k] = o[k];
  if (o.empty_layer === true) h.empty_layer = true;
  return h;
}

const CACHE_KEY_RE = /^sha256:[a-f0-9]{64}$/;

/**
 * Reads a cache config against its manifest: every layer entry must name the manifest's layer at
 * the same index, every record a layer that exists. Returns key -> what to fetch.
 */
export function parseCacheConfig(bytes: Uint8Array, manifest: Manifest): Map<CacheKey, RemoteRecord> {
  const o = object(parseJson(bytes, 'cache config'), 'cache config');
  if (o.schemaVersion !== 1) throw new ImageFormatError('cache config schemaVersion', `unsupported ${JSON.stringify(o.schemaVersion)} (this tsbuild reads 1)`);
  const layers = array(o.layers, 'layers').map((v, i) => {
    const l = object(v, `layers[${i}]`);
    const blob = manifest.layers[i];
    const d = digest(l.digest, `layers[${i}].digest`);
    if (!blob || blob.digest !== d) throw new ImageFormatError(`layers[${i}].digest`, `${d} is not the manifest's layer ${i}`);
    if (!isLayerType(blob.mediaType)) throw new ImageFormatError(`layers[${i}]`, `unsupported layer type ${blob.mediaType}`);
    return { blob, diffId: digest(l.diffId, `layers[${i}].diffId`), ...(l.diffSize !== undefined ? { diffSize: integer(l.diffSize, `layers[${i}].diffSize`) } : {}) };
  });
  if (layers.length !== manifest.layers.length) throw new ImageFormatError('layers', `${layers.length} entries for ${manifest.layers.length} manifest layers`);
  const out = new Map<CacheKey, RemoteRecord>();
  array(o.records, 'records').forEach((v, i) => {
    const r = object(v, `records[${i}]`);
    if (typeof r.key !== 'string' || !CACHE_KEY_RE.test(r.key)) throw new ImageFormatError(`records[${i}].key`, 'must be a sha256 cache key');
    const layer = layers[integer(r.layer, `records[${i}].layer`)];
    if (!layer) throw new ImageFormatError(`records[${i}].layer`, `no layer ${String(r.layer)}`);
    out.set(r.key as CacheKey, { ...layer, history: cleanHistory(r.history) });
  });
  return out;
}

function isLayerType(mt: string): boolean {
  return mt.startsWith('application/vnd.oci.image.layer.') || mt.startsWith('application/vnd.docker.image.rootfs.');
}

/** The media type a layer keeps in the local store once decompressed. */
export function uncompressedType(mt: string): string {
  return mt.startsWith('application/vnd.docker.') ? MediaType.DockerLayer : MediaType.OciLayer;
}

import type { BlobHold } from '../store/blob-store.js';
import { ImageNotFoundError } from '../store/errors.js';
import { normalizeName } from '../store/names.js';
import type { Store } from '../store/store.js';
import type { Descriptor } from './descriptor.js';
import { type Digest, digestOf, isDigest } from './digest.js';
import { ImageFormatError } from './errors.js';
import { type HistoryEntry, type ImageConfig, layerHistory, parseImageConfig } from './image-config.js';
import { type AnyManifest, type Index, isIndex, type Manifest, parseManifest, serializeManifest } from './manifest.js';
import { MediaType } from './media-types.js';
import { formatPlatform, hostPlatform, type Platform, platformMatches } from './platform.js';
import { parseReference } from './reference.js';

/** A layer of an image: the blob as stored, and the digest of its uncompressed tar. */
export interface LayerRef {
  descriptor: Descriptor;
  diffId: Digest;
  history?: HistoryEntry;
}

/** An image read from the store: everything a builder, a pusher or `inspect` needs. */
export interface Image {
  /** The manifest's descriptor (its digest is the image's manifest digest). */
  descriptor: Descriptor;
  manifest: Manifest;
  config: ImageConfig;
  layers: LayerRef[];
}

export interface ResolveOptions {
  /** Platform chosen in an index; the host's by default. */
  platform?: Platform;
}

export class PlatformNotFoundError extends Error {
  override name = 'PlatformNotFoundError';
}

/**
 * What a user's reference names in the store, without following an index: a name (`busybox`,
 * `host/x:1`), `name@sha256:...` or a bare digest (content must be present), or a unique
 * prefix (>= 4 hex) of a stored image's manifest digest or config digest (docker's image ID).
 */
export async function lookupImage(store: Store, ref: string): Promise<{ descriptor: Descriptor; name?: string }> {
  const bare = ref.startsWith('sha256:') ? ref : /^[a-f0-9]{4,64}$/.test(ref) ? `sha256:${ref}` : undefined;
  if (bare && isDigest(bare)) {
    const fromName = (await store.images.list()).find((r) => r.target.digest === bare);
    if (fromName) return { descriptor: fromName.target };
    return { descriptor: await describeStored(store, bare, ref) };
  }
  if (bare && /^sha256:[a-f0-9]{4,63}$/.test(bare)) {
    const matches = new Map<Digest, Descriptor>();
    for (const r of await store.images.list()) {
      if (r.target.digest.startsWith(bare)) matches.set(r.target.digest, r.target);
      else {
        const configDigest = await configDigestOf(store, r.target).catch(() => undefined);
        if (configDigest?.startsWith(bare)) matches.set(r.target.digest, r.target);
      }
    }
    if (matches.size === 1) return { descriptor: [...matches.values()][0]! };
    if (matches.size > 1) throw new Error(`image ID prefix ${JSON.stringify(ref)} is ambiguous`);
    if (!/^[a-f0-9]+$/.test(ref)) throw new ImageNotFoundError(ref);
  }
  const parsed = parseReference(ref);
  if (parsed.digest) return { descriptor: await describeStored(store, parsed.digest, ref) };
  const name = normalizeName(ref);
  const rec = await store.images.get(name);
  if (!rec) throw new ImageNotFoundError(ref);
  return { descriptor: rec.target, name };
}

async function describeStored(store: Store, digest: Digest, ref: string): Promise<Descriptor> {
  const info = await store.blobs.stat(digest);
  if (!info) throw new ImageNotFoundError(ref);
  const m = parseManifest(await store.blobs.readBytes(digest));
  return { mediaType: m.mediaType, digest, size: info.size };
}

async function configDigestOf(store: Store, d: Descriptor): Promise<Digest | undefined> {
  const m = await readManifest(store, d.digest);
  if (isIndex(m)) return undefined;
  return m.config.digest;
}

/** Reads and parses a manifest or index blob (verified). */
export async function readManifest(store: Store, digest: Digest): Promise<AnyManifest> {
  return parseManifest(await store.blobs.readBytes(digest));
}

/** Picks the manifest for `platform` in an index (the first match, as docker does). */
export function selectPlatform(index: Index, platform: Platform = hostPlatform()): Descriptor | undefined {
  return index.manifests.find((d) => platformMatches(platform, d.platform));
}

/** Follows a reference to a single-platform manifest descriptor, through an index if needed. */
export async function resolveImage(store: Store, ref: string | Descriptor, opts: ResolveOptions = {}): Promise<Descriptor> {
  let d = typeof ref === 'string' ? (await lookupImage(store, ref)).descriptor : ref;
  for (let depth = 0; depth < 4; depth++) {
    const m = await readManifest(store, d.digest);
    if (!isIndex(m)) return { ...d, mediaType: m.mediaType };
    const platform = opts.platform ?? hostPlatform();
    const chosen = selectPlatform(m, platform);
    if (!chosen) {
      const have = m.manifests.map((x) => (x.platform ? formatPlatform(x.platform) : '?')).join(', ');
      throw new PlatformNotFoundError(`no manifest for ${formatPlatform(platform)} in ${typeof ref === 'string' ? ref : ref.digest} (has: ${have || 'none'})`);
    }
    if (!(await store.blobs.has(chosen.digest))) {
      throw new ImageNotFoundError(`${typeof ref === 'string' ? ref : ref.digest} for ${formatPlatform(platform)} (${chosen.digest} not in the store)`);
    }
    d = chosen;
  }
  throw new ImageFormatError('manifests', 'indexes nested too deep');
}

/** Loads an image (manifest, config, layers paired with diff_ids and history). */
export async function loadImage(store: Store, ref: string | Descriptor, opts: ResolveOptions = {}): Promise<Image> {
  const descriptor = await resolveImage(store, ref, opts);
  const manifest = (await readManifest(store, descriptor.digest)) as Manifest;
  const config = parseImageConfig(await store.blobs.readBytes(manifest.config.digest));
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== manifest.layers.length) {
    throw new ImageFormatError('rootfs.diff_ids', `has ${diffIds.length} entries for ${manifest.layers.length} layers in ${descriptor.digest}`);
  }
  const history = layerHistory(config);
  const layers = manifest.layers.map((l, i) => ({
    descriptor: l,
    diffId: diffIds[i]!,
    ...(history.length === diffIds.length ? { history: history[i]! } : {}),
  }));
  return { descriptor, manifest, config, layers };
}

export interface WriteImageInput {
  /** The config; its rootfs is rewritten from `layers`. */
  config: ImageConfig;
  /** The config as already stored, byte for byte (keeps the image ID); `config` must be its content. */
  configDescriptor?: Descriptor;
  layers: { descriptor: Descriptor; diffId: Digest }[];
  /** `oci` (default) or `docker` (schema2 media types, for old registries). */
  format?: 'oci' | 'docker';
  annotations?: Record<string, string>;
  /** Names to point at the new manifest. */
  names?: string[];
  hold?: BlobHold;
}

/** Writes the config and manifest blobs (and names, if any); the layer blobs must already be stored. */
export async function writeImage(store: Store, input: WriteImageInput): Promise<Image> {
  const docker = input.format === 'docker';
  const config: ImageConfig = { ...input.config, rootfs: { type: 'layers', diff_ids: input.layers.map((l) => l.diffId) } };
  const hold = input.hold ? { hold: input.hold } : {};
  // Both blobs are written at once (their fsyncs overlap): the config's digest is known before it is stored.
  const configBytes = input.configDescriptor ? undefined : Buffer.from(JSON.stringify(config));
  const configInfo = input.configDescriptor ?? { digest: digestOf(configBytes!), size: configBytes!.length };
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: docker ? MediaType.DockerManifest : MediaType.OciManifest,
    config: { mediaType: docker ? MediaType.DockerConfig : MediaType.OciConfig, digest: configInfo.digest, size: configInfo.size },
    layers: input.layers.map((l) => ({ ...l.descriptor, mediaType: docker ? dockerLayerType(l.descriptor.mediaType) : l.descriptor.mediaType })),
    ...(input.annotations ? { annotations: input.annotations } : {}),
  };
  const bytes = serializeManifest(manifest);
  const [info] = await Promise.all([
    store.blobs.writeBytes(bytes, {}, hold),
    configBytes ? store.blobs.writeBytes(configBytes, { digest: configInfo.digest, size: configInfo.size }, hold) : undefined,
  ]);
  const descriptor: Descriptor = { mediaType: manifest.mediaType, digest: info.digest, size: info.size };
  for (const n of input.names ?? []) await store.images.set(n, descriptor);
  return { descriptor, manifest, config, layers: input.layers.map((l) => ({ descriptor: l.descriptor, diffId: l.diffId })) };
}

function dockerLayerType(mt: string): string {
  if (mt === MediaType.OciLayerGzip) return MediaType.DockerLayerGzip;
  if (mt === MediaType.OciLayer) return MediaType.DockerLayer;
  if (mt === MediaType.OciLayerNondistributableGzip) return MediaType.DockerForeignLayerGzip;
  return mt;
}

/** Sum of the manifest, config and layer sizes: what `tsbuild images` shows as SIZE. */
export function imageSize(img: Image): number {
  return img.descriptor.size + img.manifest.config.size + img.manifest.layers.reduce((n, l) => n + l.size, 0);
}

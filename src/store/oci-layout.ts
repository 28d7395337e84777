import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Descriptor } from '../image/descriptor.js';
import { type Digest, parseDigest } from '../image/digest.js';
import { isIndex, parseManifest, serializeManifest, type Index } from '../image/manifest.js';
import { isIndexMediaType, isManifestMediaType, MediaType } from '../image/media-types.js';
import { familiarName, parseReference } from '../image/reference.js';
import { object, parseJson, string } from '../image/validate.js';
import { type ArchiveFile, openFile, writeArchiveFile } from './archive-tar.js';
import { BlobNotFoundError } from './errors.js';
import { normalizeName } from './names.js';
import type { Store } from './store.js';

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
export const CONTAINERD_NAME_ANNOTATION = 'io.containerd.image.name';

export interface LoadedImage {
  /** Normalised name, when the archive named the image. */
  name?: string;
  descriptor: Descriptor;
}

export interface ImageToSave {
  /** Normalised name (`docker.io/library/busybox:latest`); written as annotations. */
  name?: string;
  descriptor: Descriptor;
}

/** Every blob below a manifest or index descriptor (itself included), children before parents not required. */
export async function reachableBlobs(store: Store, root: Descriptor, out = new Map<Digest, Descriptor>()): Promise<Map<Digest, Descriptor>> {
  if (out.has(root.digest)) return out;
  out.set(root.digest, root);
  if (!isManifestMediaType(root.mediaType) && !isIndexMediaType(root.mediaType)) return out;
  const m = parseManifest(await store.blobs.readBytes(root.digest), root.mediaType);
  if (isIndex(m)) {
    for (const c of m.manifests) if (await store.blobs.has(c.digest)) await reachableBlobs(store, c, out);
  } else {
    for (const c of [m.config, ...m.layers]) out.set(c.digest, c);
  }
  return out;
}

/** The files of an OCI image layout holding `images`: oci-layout, index.json, blobs/<alg>/<hex>. */
export async function* ociLayoutFiles(store: Store, images: ImageToSave[]): AsyncGenerator<ArchiveFile> {
  const blobs = new Map<Digest, Descriptor>();
  for (const img of images) await reachableBlobs(store, img.descriptor, blobs);
  const index: Index = {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: images.map((img) => {
      const { mediaType, digest, size, platform } = img.descriptor;
      const d: Descriptor = { mediaType, digest, size, ...(platform ? { platform } : {}) };
      if (img.name) {
        const ref = parseReference(img.name);
        d.annotations = { [CONTAINERD_NAME_ANNOTATION]: img.name, [REF_NAME_ANNOTATION]: ref.tag ?? 'latest' };
      }
      return d;
    }),
  };
  yield { name: 'oci-layout', data: Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })) };
  yield { name: 'index.json', data: serializeManifest(index) };
  for (const d of [...blobs.keys()].sort()) {
    const info = await store.blobs.stat(d);
    if (!info) throw new BlobNotFoundError(d);
    const { algorithm, hex } = parseDigest(d);
    yield { name: `blobs/${algorithm}/${hex}`, size: info.size, open: () => store.blobs.open(d) };
  }
}

/** Writes `images` as an oci-archive tar file. */
export async function saveOciArchive(store: Store, images: ImageToSave[], file: string): Promise<void> {
  await writeArchiveFile(file, ociLayoutFiles(store, images));
}

/**
 * Imports an OCI image layout directory: every blob reachable from index.json is copied into the
 * store, verified against its digest (so digests are unchanged), then names are set from the
 * annotations (`io.containerd.image.name`, or `ref.name` when it is a full name, or
 * `defaultName` with `ref.name` as its tag).
 */
export async function loadOciLayout(store: Store, dir: string, opts: { defaultName?: string } = {}): Promise<LoadedImage[]> {
  const layout = object(parseJson(await readFile(join(dir, 'oci-layout')), 'oci-layout'), 'oci-layout');
  string(layout.imageLayoutVersion, 'oci-layout.imageLayoutVersion');
  const indexBytes = await readFile(join(dir, 'index.json'));
  const index = parseManifest(indexBytes, MediaType.OciIndex);
  if (!isIndex(index)) throw new Error('index.json is not an image index');
  const copied = new Set<Digest>();
  const copy = async (d: Descriptor, optional: boolean): Promise<void> => {
    if (copied.has(d.digest)) return;
    const { algorithm, hex } = parseDigest(d.digest);
    const path = join(dir, 'blobs', algorithm, hex);
    const st = await stat(path).catch(() => undefined);
    if (!st) {
      if (optional) return; // e.g. other platforms of an index saved for one platform
      throw new BlobNotFoundError(d.digest);
    }
    copied.add(d.digest);
    if (!(await store.blobs.has(d.digest))) await store.blobs.write(openFile(path), { digest: d.digest, size: d.size });
    if (isManifestMediaType(d.mediaType) || isIndexMediaType(d.mediaType)) {
      const m = parseManifest(await store.blobs.readBytes(d.digest), d.mediaType);
      if (isIndex(m)) for (const c of m.manifests) await copy(c, true);
      else for (const c of [m.config, ...m.layers]) await copy(c, false);
    }
  };
  const out: LoadedImage[] = [];
  for (const d of index.manifests) {
    await copy(d, false);
    const { mediaType, digest, size, platform } = d;
    const target: Descriptor = { mediaType, digest, size, ...(platform ? { platform } : {}) };
    const name = opts.defaultName && index.manifests.length === 1 ? normalizeName(opts.defaultName) : nameFromAnnotations(d.annotations, opts.defaultName);
    if (name) await store.images.set(name, target);
    out.push({ ...(name ? { name } : {}), descriptor: target });
  }
  return out;
}

function nameFromAnnotations(a: Record<string, string> | undefined, defaultName: string | undefined): string | undefined {
  const full = a?.[CONTAINERD_NAME_ANNOTATION];
  if (full) return normalizeName(full);
  const refName = a?.[REF_NAME_ANNOTATION];
  if (refName) {
    // A full reference (docker, skopeo with a name) or just a tag (umoci, skopeo's default).
    if (/[/]/.test(refName) || /:/.test(refName)) {
      try {
        return normalizeName(refName);
      } catch {
        // not a reference: fall through to the tag form
      }
    }
    if (defaultName) {
      const ref = parseReference(defaultName);
      return normalizeName(`${ref.registry}/${ref.repository}:${refName}`);
    }
    return undefined;
  }
  return defaultName ? normalizeName(defaultName) : undefined;
}

export { familiarName };

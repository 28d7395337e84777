import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import type { Descriptor } from '../image/descriptor.js';
import { parseDigest } from '../image/digest.js';
import { loadImage } from '../image/image.js';
import { parseImageConfig } from '../image/image-config.js';
import { decompressed, peekCompression } from '../image/layer/compression.js';
import { entryComponents } from '../image/layer/safe-path.js';
import { type Manifest, serializeManifest } from '../image/manifest.js';
import { layerCompression, MediaType } from '../image/media-types.js';
import { familiarName, parseReference } from '../image/reference.js';
import { array, object, optionalArray, parseJson, string } from '../image/validate.js';
import { type ArchiveFile, openFile, writeArchiveFile } from './archive-tar.js';
import { normalizeName } from './names.js';
import type { ImageToSave, LoadedImage } from './oci-layout.js';
import type { Store } from './store.js';

interface DockerManifestEntry {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
}

/**
 * The files of a `docker save` archive: `<config hex>.json`, `<diff_id hex>/layer.tar`
 * (uncompressed, as docker writes them), `manifest.json` and `repositories`. Gzip layers are
 * inflated to a temp file first, because a tar header needs the size before the bytes.
 */
async function* dockerArchiveFiles(store: Store, images: ImageToSave[], scratch: string): AsyncGenerator<ArchiveFile> {
  const entries: DockerManifestEntry[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  const written = new Set<string>();
  let tempN = 0;
  for (const img of images) {
    const loaded = await loadImage(store, img.descriptor);
    const configHex = parseDigest(loaded.manifest.config.digest).hex;
    const configName = `${configHex}.json`;
    if (!written.has(configName)) {
      written.add(configName);
      yield { name: configName, data: await store.blobs.readBytes(loaded.manifest.config.digest) };
    }
    const layerNames: string[] = [];
    for (const l of loaded.layers) {
      const hex = parseDigest(l.diffId).hex;
      const name = `${hex}/layer.tar`;
      layerNames.push(name);
      if (written.has(name)) continue;
      written.add(name);
      if (layerCompression(l.descriptor.mediaType) === 'none') {
        yield { name, size: l.descriptor.size, open: () => store.blobs.open(l.descriptor.digest) };
      } else {
        const tmp = join(scratch, `layer-${tempN++}.tar`);
        await pipeline(await decompressed(store.blobs.open(l.descriptor.digest)), createWriteStream(tmp));
        const size = (await stat(tmp)).size;
        yield { name, size, open: () => openFile(tmp) };
        await rm(tmp, { force: true });
      }
    }
    const tags: string[] = [];
    if (img.name) {
      const ref = parseReference(img.name);
      const short = familiarName({ registry: ref.registry, repository: ref.repository });
      tags.push(familiarName(ref));
      if (layerNames.length > 0) (repositories[short] ??= {})[ref.tag ?? 'latest'] = layerNames[layerNames.length - 1]!.split('/')[0]!;
    }
    entries.push({ Config: configName, RepoTags: tags, Layers: layerNames });
  }
  yield { name: 'manifest.json', data: Buffer.from(JSON.stringify(entries)) };
  yield { name: 'repositories', data: Buffer.from(JSON.stringify(repositories)) };
}

/** Writes `images` (single-platform manifests) as a docker-archive tar file. */
export async function saveDockerArchive(store: Store, images: ImageToSave[], file: string): Promise<void> {
  const scratch = await mkdtemp(join(store.root, 'tmp-save-'));
  try {
    await writeArchiveFile(file, dockerArchiveFiles(store, images, scratch));
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * Imports an unpacked docker-archive: each manifest.json entry becomes an OCI manifest over the
 * same config blob (so the image ID, the config digest, is unchanged) and layer blobs stored as
 * they are in the archive (their digests are the diff_ids when uncompressed).
 */
export async function loadDockerArchive(store: Store, dir: string, opts: { defaultName?: string } = {}): Promise<LoadedImage[]> {
  const list = array(parseJson(await readFile(join(dir, 'manifest.json')), 'manifest.json'), 'manifest.json');
  const out: LoadedImage[] = [];
  for (const [i, raw] of list.entries()) {
    const e = object(raw, `manifest.json[${i}]`);
    const configPath = join(dir, ...entryComponents(string(e.Config, `manifest.json[${i}].Config`)));
    const configBytes = await readFile(configPath);
    const config = parseImageConfig(configBytes);
    const configInfo = await store.blobs.writeBytes(configBytes);
    const layerPaths = array(e.Layers, `manifest.json[${i}].Layers`).map((l, j) => string(l, `manifest.json[${i}].Layers[${j}]`));
    if (layerPaths.length !== config.rootfs.diff_ids.length) throw new Error(`manifest.json[${i}]: ${layerPaths.length} layers for ${config.rootfs.diff_ids.length} diff_ids`);
    const layers: Descriptor[] = [];
    for (const p of layerPaths) {
      const { compression, stream } = await peekCompression(openFile(join(dir, ...entryComponents(p))));
      const info = await store.blobs.write(stream);
      layers.push({ mediaType: compression === 'gzip' ? MediaType.OciLayerGzip : compression === 'zstd' ? MediaType.OciLayerZstd : MediaType.OciLayer, digest: info.digest, size: info.size });
    }
    for (const [j, l] of layers.entries()) {
      if (l.mediaType === MediaType.OciLayer && l.digest !== config.rootfs.diff_ids[j]) {
        throw new Error(`layer ${layerPaths[j]} has digest ${l.digest} but the config says ${config.rootfs.diff_ids[j]}`);
      }
    }
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: configInfo.digest, size: configInfo.size },
      layers,
    };
    const info = await store.blobs.writeBytes(serializeManifest(manifest));
    const descriptor: Descriptor = { mediaType: MediaType.OciManifest, digest: info.digest, size: info.size };
    const tags = (optionalArray(e.RepoTags, `manifest.json[${i}].RepoTags`) ?? []).map((t, j) => normalizeName(string(t, `manifest.json[${i}].RepoTags[${j}]`)));
    if (opts.defaultName && list.length === 1) tags.splice(0, tags.length, normalizeName(opts.defaultName));
    for (const t of tags) await store.images.set(t, descriptor);
    if (tags.length === 0) out.push({ descriptor });
    for (const t of tags) out.push({ name: t, descriptor });
  }
  return out;
}

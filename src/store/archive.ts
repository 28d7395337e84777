import { mkdtemp, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { unpackArchive, openFile } from './archive-tar.js';
import { loadDockerArchive, saveDockerArchive } from './docker-archive.js';
import { type ImageToSave, type LoadedImage, loadOciLayout, saveOciArchive } from './oci-layout.js';
import type { Store } from './store.js';
import { decompressed } from '../image/layer/compression.js';

export type ArchiveFormat = 'oci' | 'docker';

/**
 * Loads images from an OCI layout directory, an oci-archive tar or a docker-archive tar (plain or
 * gzip), telling them apart by content: `oci-layout` means OCI (preferred when an archive has
 * both, as docker 25+ writes), `manifest.json` means docker.
 */
export async function loadArchive(store: Store, path: string, opts: { defaultName?: string } = {}): Promise<{ format: ArchiveFormat; images: LoadedImage[] }> {
  const st = await stat(path);
  if (st.isDirectory()) return detectAndLoad(store, path, opts);
  const scratch = await mkdtemp(join(store.root, 'tmp-load-'));
  try {
    await unpackArchive(await decompressed(openFile(path)), scratch);
    return await detectAndLoad(store, scratch, opts);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

async function detectAndLoad(store: Store, dir: string, opts: { defaultName?: string }): Promise<{ format: ArchiveFormat; images: LoadedImage[] }> {
  const has = async (f: string) => (await stat(join(dir, f)).catch(() => undefined))?.isFile() ?? false;
  if (await has('oci-layout')) return { format: 'oci', images: await loadOciLayout(store, dir, opts) };
  if (await has('manifest.json')) return { format: 'docker', images: await loadDockerArchive(store, dir, opts) };
  throw new Error('not an image archive: neither oci-layout nor manifest.json found');
}

export async function saveArchive(store: Store, images: ImageToSave[], file: string, format: ArchiveFormat): Promise<void> {
  if (format === 'docker') await saveDockerArchive(store, images, file);
  else await saveOciArchive(store, images, file);
}

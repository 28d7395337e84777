import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Image } from '../image/image.js';
import { applyLayer } from '../image/layer/apply-layer.js';
import type { Store } from '../store/store.js';

export interface ExportTarget {
  type: 'oci' | 'docker' | 'local';
  dest: string;
}

/**
 * `--output`: `local` writes the image's root filesystem into a directory; `oci` an OCI layout
 * archive; `docker` a `docker load` archive. Layers go out as the store keeps them.
 */
export async function exportImage(store: Store, img: Image, out: ExportTarget, names: string[], signal?: AbortSignal): Promise<void> {
  if (out.type === 'local') {
    await mkdir(out.dest, { recursive: true });
    for (const l of img.layers) await applyLayer(store.blobs.open(l.descriptor.digest), out.dest, signal ? { signal } : {});
    return;
  }
  const { saveArchive } = await import('../store/archive.js');
  const { normalizeName } = await import('../store/names.js');
  const images = names.length > 0 ? names.map((n) => ({ name: normalizeName(n), descriptor: img.descriptor })) : [{ descriptor: img.descriptor }];
  await mkdir(dirname(out.dest), { recursive: true });
  await saveArchive(store, images, out.dest, out.type);
}

import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Descriptor } from '../image/descriptor.js';
import { type Index, parseManifest } from '../image/manifest.js';
import { MediaType } from '../image/media-types.js';
import { writeFileAtomic } from '../store/atomic.js';
import { FsBlobStore } from '../store/fs-blob-store.js';

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

export class LayoutError extends Error {
  override name = 'LayoutError';
}

/**
 * An OCI image layout directory (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`). Blobs go
 * through the store's verified, atomic FsBlobStore (same on-disk shape); index.json is replaced
 * atomically, one entry per `org.opencontainers.image.ref.name`.
 */
export class OciLayout {
  readonly blobs: FsBlobStore;

  constructor(readonly dir: string) {
    this.blobs = new FsBlobStore(join(dir, 'blobs'));
  }

  /** Creates the layout files if missing (for a destination). */
  async init(): Promise<void> {
    await mkdir(join(this.dir, 'blobs', 'sha256'), { recursive: true });
    try {
      await readFile(join(this.dir, 'oci-layout'));
    } catch {
      await writeFileAtomic(join(this.dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    }
    try {
      await readFile(join(this.dir, 'index.json'));
    } catch {
      await this.writeIndex({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] });
    }
  }

  async readIndex(): Promise<Index> {
    let text: string;
    try {
      text = await readFile(join(this.dir, 'index.json'), 'utf8');
    } catch (e) {
      throw new LayoutError(`${this.dir} is not an OCI layout (${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no index.json' : (e as Error).message})`);
    }
    const idx = parseManifest(text, MediaType.OciIndex);
    if (!('manifests' in idx)) throw new LayoutError(`${this.dir}/index.json is not an image index`);
    return idx;
  }

  /** The entry named `tag`, or the only entry when no tag is given. */
  async resolve(tag?: string): Promise<Descriptor> {
    const idx = await this.readIndex();
    if (tag) {
      const d = idx.manifests.find((m) => m.annotations?.[REF_NAME_ANNOTATION] === tag);
      if (!d) throw new LayoutError(`${this.dir}: no image named ${JSON.stringify(tag)}`);
      return d;
    }
    if (idx.manifests.length === 1) return idx.manifests[0]!;
    throw new LayoutError(`${this.dir} holds ${idx.manifests.length} images: name one with oci:${this.dir}:TAG`);
  }

  /** Points `tag` (or, without one, an unnamed entry) at `desc`, replacing an entry of that name. */
  async setRef(desc: Descriptor, tag?: string): Promise<void> {
    const idx = await this.readIndex();
    const entry: Descriptor = { mediaType: desc.mediaType, digest: desc.digest, size: desc.size };
    if (desc.platform) entry.platform = desc.platform;
    if (tag) entry.annotations = { [REF_NAME_ANNOTATION]: tag };
    const rest = idx.manifests.filter((m) => (tag ? m.annotations?.[REF_NAME_ANNOTATION] !== tag : m.digest !== desc.digest));
    await this.writeIndex({ ...idx, manifests: [...rest, entry] });
  }

  private async writeIndex(idx: Index): Promise<void> {
    await writeFileAtomic(join(this.dir, 'index.json'), JSON.stringify(idx));
  }
}

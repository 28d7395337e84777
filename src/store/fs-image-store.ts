import { createHash } from 'node:crypto';
import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { type Descriptor, parseDescriptor } from '../image/descriptor.js';
import { object, parseJson, string } from '../image/validate.js';
import { readFileIfExists, writeFileAtomic } from './atomic.js';
import type { ImageRecord, ImageStore } from './image-store.js';
import { normalizeName } from './names.js';

/**
 * One small JSON file per name, `<dir>/<sha256(name)>.json` holding `{name, target}`: an update
 * renames one file, so concurrent taggers of different names never lose each other's work, and
 * a reader sees the old target or the new.
 */
export class FsImageStore implements ImageStore {
  constructor(readonly dir: string) {}

  private file(name: string): string {
    return join(this.dir, `${createHash('sha256').update(name).digest('hex')}.json`);
  }

  async get(name: string): Promise<ImageRecord | undefined> {
    return this.read(this.file(normalizeName(name)));
  }

  async set(name: string, target: Descriptor): Promise<void> {
    const n = normalizeName(name);
    const { mediaType, digest, size, annotations, platform } = target;
    const t: Descriptor = { mediaType, digest, size, ...(annotations ? { annotations } : {}), ...(platform ? { platform } : {}) };
    await writeFileAtomic(this.file(n), JSON.stringify({ name: n, target: t }));
  }

  async delete(name: string): Promise<boolean> {
    try {
      await unlink(this.file(normalizeName(name)));
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
  }

  async list(): Promise<ImageRecord[]> {
    let files: string[];
    try {
      files = await readdir(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: ImageRecord[] = [];
    for (const f of files) {
      if (!f.endsWith('.json') || f.startsWith('.')) continue;
      const r = await this.read(join(this.dir, f));
      if (r) out.push(r);
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  private async read(file: string): Promise<ImageRecord | undefined> {
    const text = await readFileIfExists(file);
    if (text === undefined) return undefined;
    const o = object(parseJson(text, file), file);
    return { name: string(o.name, `${file}: name`), target: parseDescriptor(o.target, `${file}: target`) };
  }
}

import { Readable, Writable } from 'node:stream';
import { checkPath, type FileInfo, type FileWriter, PathNotFoundError, type StorageDriver } from './driver.js';

interface MemFile {
  data: Buffer;
  modTime: Date;
}

/** Everything in a Map: for unit tests of the layers above the driver, and nothing else. */
export class MemoryDriver implements StorageDriver {
  private readonly files = new Map<string, MemFile>();

  private file(path: string): MemFile {
    const f = this.files.get(checkPath(path));
    if (!f) throw new PathNotFoundError(path);
    return f;
  }

  async getContent(path: string): Promise<Buffer> {
    return Buffer.from(this.file(path).data);
  }

  async putContent(path: string, content: Uint8Array): Promise<void> {
    this.files.set(checkPath(path), { data: Buffer.from(content), modTime: new Date() });
  }

  async reader(path: string, range: { start?: number; end?: number } = {}): Promise<Readable> {
    const f = this.file(path);
    const end = range.end === undefined ? f.data.length : range.end + 1;
    return Readable.from([f.data.subarray(range.start ?? 0, end)]);
  }

  async writer(path: string): Promise<FileWriter> {
    checkPath(path);
    const existing = this.files.get(path);
    const startSize = existing?.data.length ?? 0;
    const chunks: Buffer[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, cb) {
        chunks.push(Buffer.from(chunk));
        cb();
      },
    });
    let done = false;
    return {
      startSize,
      stream,
      commit: async () => {
        if (done) return;
        done = true;
        const base = this.files.get(path)?.data ?? Buffer.alloc(0);
        this.files.set(path, { data: Buffer.concat([base, ...chunks]), modTime: new Date() });
      },
      cancel: async () => {
        done = true;
        stream.destroy();
      },
    };
  }

  async stat(path: string): Promise<FileInfo> {
    const p = checkPath(path);
    const f = this.files.get(p);
    if (f) return { size: f.data.length, modTime: f.modTime, isDir: false };
    const prefix = p === '/' ? '/' : `${p}/`;
    for (const k of this.files.keys()) if (k.startsWith(prefix)) return { size: 0, modTime: new Date(), isDir: true };
    throw new PathNotFoundError(path);
  }

  async list(path: string): Promise<string[]> {
    const p = checkPath(path);
    const prefix = p === '/' ? '/' : `${p}/`;
    const names = new Set<string>();
    for (const k of this.files.keys()) if (k.startsWith(prefix)) names.add(k.slice(prefix.length).split('/')[0]!);
    return [...names].sort();
  }

  async move(source: string, dest: string): Promise<void> {
    const f = this.file(source);
    this.files.delete(source);
    this.files.set(checkPath(dest), f);
  }

  async delete(path: string): Promise<void> {
    const p = checkPath(path);
    const prefix = `${p}/`;
    for (const k of [...this.files.keys()]) if (k === p || k.startsWith(prefix)) this.files.delete(k);
  }

  async touch(path: string): Promise<void> {
    this.file(path).modTime = new Date();
  }

  /** Test helper: ages a file so garbage collection's grace period has passed. */
  setModTime(path: string, when: Date): void {
    this.file(path).modTime = when;
  }
}

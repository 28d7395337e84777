import { createHash } from 'node:crypto';
import { createReadStream, type BigIntStats, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../store/atomic.js';
import { streamHash } from '../../store/stream-hash.js';

/** What identifies a file's content without reading it: if none of these changed, neither did the bytes. */
interface Entry {
  dev: string;
  ino: string;
  size: string;
  mtime: string;
  ctime: string;
  sha256: string;
}

/**
 * File content checksums remembered by (dev, inode, size, mtime, ctime), kept in a small JSON file
 * in the store root, so a no-op rebuild hashes nothing. ctime is in the key because it changes on
 * every write even when a tool restores mtime. The checksum itself never includes any time.
 */
export class ChecksumCache {
  private entries = new Map<string, Entry>();
  /** Hashes under way, by path and identity. */
  private readonly hashing = new Map<string, Promise<string>>();
  private dirty = false;
  /** Files hashed (not served from the cache) since opening: the benchmark and tests read it. */
  hashed = 0;

  private constructor(private readonly file: string | undefined) {}

  /** A cache persisted under `<storeRoot>/build/checksums/`, one file per context directory. */
  static async open(storeRoot: string | undefined, contextDir: string): Promise<ChecksumCache> {
    if (!storeRoot) return new ChecksumCache(undefined);
    const id = createHash('sha256').update(contextDir).digest('hex').slice(0, 32);
    const c = new ChecksumCache(join(storeRoot, 'build', 'checksums', `${id}.json`));
    try {
      const data = JSON.parse(await readFile(c.file!, 'utf8')) as Record<string, Entry>;
      for (const [k, v] of Object.entries(data)) c.entries.set(k, v);
    } catch {
      // absent or unreadable: start empty; it is only a cache
    }
    return c;
  }

  static memory(): ChecksumCache {
    return new ChecksumCache(undefined);
  }

  /** sha256 hex of the file's content, from the cache when its identity is unchanged. */
  async checksum(abs: string, st: BigIntStats): Promise<string> {
    const e = this.entries.get(abs);
    const dev = String(st.dev);
    const ino = String(st.ino);
    const size = String(st.size);
    const mtime = String(st.mtimeNs);
    const ctime = String(st.ctimeNs);
    if (e && e.dev === dev && e.ino === ino && e.size === size && e.mtime === mtime && e.ctime === ctime) return e.sha256;
    // Two steps (or a step and its prefetch) asking at once share one read of the file.
    const id = `${abs}\0${dev}:${ino}:${size}:${mtime}:${ctime}`;
    let p = this.hashing.get(id);
    if (!p) {
      p = hashFile(abs).then((sha256) => {
        this.hashed++;
        this.entries.set(abs, { dev, ino, size, mtime, ctime, sha256 });
        this.dirty = true;
        return sha256;
      });
      this.hashing.set(id, p);
      p.then(
        () => this.hashing.delete(id),
        () => this.hashing.delete(id),
      );
    }
    return p;
  }

  async save(): Promise<void> {
    if (!this.file || !this.dirty) return;
    // Atomic, not fsynced: a cache; if a crash tears it, open() starts empty and files are hashed again.
    await writeFileAtomic(this.file, JSON.stringify(Object.fromEntries(this.entries)), { durable: false });
    this.dirty = false;
  }
}

export async function hashFile(abs: string): Promise<string> {
  // Small files (most of a context) in one synchronous read; large ones streamed, and hashed on
  // the thread pool where it can (the main thread has steps to run meanwhile).
  if (statSync(abs).size <= 256 * 1024) return createHash('sha256').update(readFileSync(abs)).digest('hex');
  const h = streamHash('sha256');
  for await (const chunk of createReadStream(abs, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.hex();
}

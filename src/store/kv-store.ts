import { createHash } from 'node:crypto';
import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { type Digest, isDigest } from '../image/digest.js';
import { readFileIfExists, writeFileAtomic } from './atomic.js';

/** One entry of a key-value namespace. */
export interface KvEntry<T = unknown> {
  key: string;
  value: T;
  /** Blobs this entry needs: GC keeps them (and what they reference, if they are manifests). */
  refs: Digest[];
  /** When set, the entry only lives as long as this blob: GC drops it once the blob is gone. */
  owner?: Digest;
}

export interface KvSetOptions {
  refs?: Iterable<Digest>;
  owner?: Digest;
}

/**
 * A small key-value area of the store (build cache, memos). Values are JSON; each entry is its own
 * file, `<dir>/<sha256(key)>.json`, replaced atomically, so concurrent writers never corrupt it.
 */
export class KvNamespace {
  constructor(
    readonly name: string,
    readonly dir: string,
  ) {}

  private file(key: string): string {
    return join(this.dir, `${createHash('sha256').update(key).digest('hex')}.json`);
  }

  async get<T = unknown>(key: string): Promise<KvEntry<T> | undefined> {
    const e = await readEntry<T>(this.file(key));
    return e && e.key === key ? e : undefined;
  }

  async set<T>(key: string, value: T, opts: KvSetOptions = {}): Promise<void> {
    const entry: KvEntry<T> = { key, value, refs: [...(opts.refs ?? [])], ...(opts.owner ? { owner: opts.owner } : {}) };
    // Atomic but not fsynced: every namespace is a cache (a lost or torn entry after a crash reads as
    // absent, see readEntry), and two fsyncs per build step cost more than the step's own work.
    await writeFileAtomic(this.file(key), JSON.stringify(entry), { durable: false });
  }

  async delete(key: string): Promise<boolean> {
    try {
      await unlink(this.file(key));
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
  }

  async *entries<T = unknown>(): AsyncIterable<KvEntry<T>> {
    let files: string[];
    try {
      files = await readdir(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    for (const f of files) {
      if (!f.endsWith('.json') || f.startsWith('.')) continue;
      const e = await readEntry<T>(join(this.dir, f));
      if (e) yield e;
    }
  }

  /** Removes every entry; returns how many. */
  async clear(): Promise<number> {
    let n = 0;
    for await (const e of this.entries()) if (await this.delete(e.key)) n++;
    return n;
  }
}

async function readEntry<T>(file: string): Promise<KvEntry<T> | undefined> {
  const text = await readFileIfExists(file);
  if (text === undefined) return undefined;
  let o: Partial<KvEntry<T>>;
  try {
    o = JSON.parse(text) as Partial<KvEntry<T>>;
  } catch {
    return undefined; // torn by a crash (entries are not fsynced) or hand-edited: absent
  }
  if (typeof o.key !== 'string') return undefined;
  return {
    key: o.key,
    value: o.value as T,
    refs: Array.isArray(o.refs) ? o.refs.filter(isDigest) : [],
    ...(isDigest(o.owner) ? { owner: o.owner } : {}),
  };
}

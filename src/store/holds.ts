import { randomBytes } from 'node:crypto';
import { readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { type Digest, isDigest } from '../image/digest.js';
import { pidAlive, writeFileAtomic } from './atomic.js';
import type { BlobHold } from './blob-store.js';

/**
 * A hold is a file `<dir>/<pid>-<random>.json` listing digests that GC must keep (with everything
 * they reference). It lives on disk so a `tsbuild prune` in another process sees what a running
 * build or pull is using; a hold whose process died is stale and ignored (and removed) by GC.
 */
export class FileHold implements BlobHold {
  private readonly digests = new Set<Digest>();
  private released = false;
  readonly file: string;

  constructor(dir: string) {
    this.file = join(dir, `${process.pid}-${randomBytes(6).toString('hex')}.json`);
  }

  async add(digests: Iterable<Digest>): Promise<void> {
    if (this.released) throw new Error('hold already released');
    const before = this.digests.size;
    for (const d of digests) this.digests.add(d);
    if (this.digests.size !== before || before === 0) await this.flush();
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await unlink(this.file).catch(() => {});
  }

  private async flush(): Promise<void> {
    // Not durable: a hold only protects blobs while its process lives, and no process survives a crash.
    await writeFileAtomic(this.file, JSON.stringify({ pid: process.pid, digests: [...this.digests] }), { durable: false });
  }
}

/** Digests held by live processes; stale hold files are removed on the way. */
export async function heldDigests(dir: string): Promise<Set<Digest>> {
  const out = new Set<Digest>();
  let files: string[];
  try {
    files = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return out;
    throw e;
  }
  for (const f of files) {
    if (!f.endsWith('.json') || f.startsWith('.')) continue;
    const pid = Number(f.split('-')[0]);
    if (!pidAlive(pid)) {
      await unlink(join(dir, f)).catch(() => {});
      continue;
    }
    try {
      const o = JSON.parse(await readFile(join(dir, f), 'utf8')) as { digests?: unknown[] };
      for (const d of o.digests ?? []) if (isDigest(d)) out.add(d);
    } catch {
      // released between readdir and read
    }
  }
  return out;
}

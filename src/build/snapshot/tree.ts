import { lstatSync } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { join } from 'node:path';

/** An entry of a directory tree, path relative to the tree's root (`etc/passwd`, no leading slash). */
export interface TreeEntry {
  rel: string;
  st: BigIntStats;
}

/**
 * Every entry below `root` (not the root itself), parents before children, names sorted.
 * lstat is synchronous: microseconds per entry, far less than a thread-pool round trip each.
 */
export async function walkTree(root: string): Promise<TreeEntry[]> {
  const out: TreeEntry[] = [];
  const visit = async (rel: string): Promise<void> => {
    const names = (await readdir(rel ? join(root, rel) : root)).sort();
    for (const name of names) {
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(root, r), { bigint: true });
      out.push({ rel: r, st });
      if (st.isDirectory()) await visit(r);
    }
  };
  await visit('');
  return out;
}

export async function lstatOrUndefined(path: string): Promise<BigIntStats | undefined> {
  try {
    return await lstat(path, { bigint: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
}

/** An overlay whiteout: a character device with device number 0/0. */
export function isWhiteout(st: BigIntStats): boolean {
  return st.isCharacterDevice() && st.rdev === 0n;
}

/** The parts of metadata overlay copy-up preserves and a layer records (not ctime, not atime). */
export function sameMetadata(a: BigIntStats, b: BigIntStats): boolean {
  return a.mode === b.mode && a.uid === b.uid && a.gid === b.gid && a.mtimeNs === b.mtimeNs;
}

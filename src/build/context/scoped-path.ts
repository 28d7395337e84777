import { lstat, readlink } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Resolves `p` inside `root` as if `root` were `/`: symlinks (absolute or relative) and `..` are
 * followed but can never lead outside `root`. Missing components are kept literally, so the result
 * can name a path to create. `followLast` decides whether a final symlink is followed.
 * Returns the host path and the in-root path it resolved to.
 */
export async function resolveInRoot(root: string, p: string, followLast = true): Promise<{ host: string; path: string }> {
  let pending = splitPath(p);
  const done: string[] = [];
  let links = 0;
  let missing = false;
  while (pending.length > 0) {
    const c = pending.shift()!;
    if (c === '.' || c === '') continue;
    if (c === '..') {
      done.pop();
      continue;
    }
    const isLast = pending.length === 0;
    if (missing || (isLast && !followLast)) {
      done.push(c);
      continue;
    }
    const host = join(root, ...done, c);
    let st;
    try {
      st = await lstat(host);
    } catch {
      missing = true;
      done.push(c);
      continue;
    }
    if (!st.isSymbolicLink()) {
      done.push(c);
      continue;
    }
    if (++links > 255) throw new Error(`too many levels of symbolic links resolving ${p}`);
    const target = await readlink(host);
    if (target.startsWith('/')) done.length = 0;
    pending = [...splitPath(target), ...pending];
  }
  return { host: join(root, ...done), path: `/${done.join('/')}` };
}

function splitPath(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}

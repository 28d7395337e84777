import { lstat, readlink } from 'node:fs/promises';
import { join } from 'node:path';

/** A layer entry that would write outside the target directory; the whole apply is refused. */
export class LayerPathError extends Error {
  override name = 'LayerPathError';
}

/** Splits an entry name into components; refuses `..` and empty names. Leading `/` and `./` are dropped. */
export function entryComponents(name: string): string[] {
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) throw new LayerPathError(`layer entry ${JSON.stringify(name)} points outside the target (contains "..")`);
  return parts;
}

/**
 * Resolves `components` (a parent directory path) inside `root` as if `root` were `/`: symlinks are
 * followed with chroot semantics (absolute targets start again at `root`). A `..` that would climb
 * above `root` is refused: such a symlink escapes and nothing is written through it.
 * Returns the real path below root (components), never leaving it.
 */
export async function resolveInRoot(root: string, components: string[], what: string): Promise<string[]> {
  const resolved: string[] = [];
  const pending = [...components];
  let follows = 0;
  while (pending.length > 0) {
    const c = pending.shift()!;
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (resolved.length === 0) throw new LayerPathError(`layer entry ${JSON.stringify(what)} resolves through a symlink outside the target`);
      resolved.pop();
      continue;
    }
    const p = join(root, ...resolved, c);
    let isLink = false;
    try {
      isLink = (await lstat(p)).isSymbolicLink();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (!isLink) {
      resolved.push(c);
      continue;
    }
    if (++follows > 40) throw new LayerPathError(`layer entry ${JSON.stringify(what)}: too many levels of symlinks`);
    const target = await readlink(p);
    const parts = target.split('/');
    if (target.startsWith('/')) resolved.length = 0;
    pending.unshift(...parts);
  }
  return resolved;
}

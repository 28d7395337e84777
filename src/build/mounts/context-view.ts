import { randomBytes } from 'node:crypto';
import { chmod, copyFile, link, lchown, lutimes, mkdir, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { listMatch, resolveSource, SourceNotFoundError, type SourceTree } from '../context/source-tree.js';
import { MountError } from './types.js';

/**
 * What a bind mount of the build context shows when a .dockerignore applies: the source with the
 * ignored paths left out, as BuildKit shows it (it only ever receives the filtered context). Files
 * are hard links to the context's own where the filesystems allow (no bytes are copied), copies
 * otherwise; directories and symlinks are made anew with the same mode, owner and times (the
 * owners on disk, as a bind of the whole context shows them). The view
 * lives under `<storeRoot>/tmp` until `dispose`.
 */
export async function contextView(storeRoot: string, tree: SourceTree, source: string | undefined): Promise<{ host: string; isDir: boolean; dispose(): Promise<void> }> {
  let match;
  try {
    [match] = await resolveSource(tree, source ?? '/');
  } catch (e) {
    if (e instanceof SourceNotFoundError) throw new MountError(`bind mount from the build context: ${e.message}`);
    throw e;
  }
  if (!match) throw new MountError(`bind mount from the build context: ${JSON.stringify(source ?? '/')} not found`);
  const base = join(storeRoot, 'tmp', `context-view-${randomBytes(8).toString('hex')}`);
  const dispose = () => rm(base, { recursive: true, force: true });
  try {
    await mkdir(base, { recursive: true });
    const host = join(base, 'view');
    const dirs: { path: string; atime: Date; mtime: Date }[] = [];
    for (const e of await listMatch(tree, match)) {
      const to = match.isDir ? join(host, e.rel) : host;
      if (e.kind === 'dir') {
        await mkdir(to);
        await lchown(to, Number(e.stat.uid), Number(e.stat.gid));
        await chmod(to, e.mode);
        dirs.push({ path: to, atime: e.stat.atime, mtime: e.stat.mtime });
      } else if (e.kind === 'file') {
        // A link shares the context's inode, never writable through the mount: read-only binds
        // stay read-only, and rw ones get an overlay on top (discardableCopy).
        await link(e.abs, to).catch(async () => {
          // Another filesystem (or links refused): a copy, with the original's mode, owner and times.
          await copyFile(e.abs, to);
          await lchown(to, Number(e.stat.uid), Number(e.stat.gid));
          await chmod(to, e.mode);
          await lutimes(to, e.stat.atime, e.stat.mtime);
        });
      } else if (e.kind === 'symlink') {
        await symlink(e.linkTarget ?? '', to);
        await lchown(to, Number(e.stat.uid), Number(e.stat.gid));
        await lutimes(to, e.stat.atime, e.stat.mtime);
      }
    }
    // Times last: making the entries in a directory changed its own.
    for (const d of dirs.reverse()) await lutimes(d.path, d.atime, d.mtime);
    return { host, isDir: match.isDir, dispose };
  } catch (e) {
    await dispose();
    throw e;
  }
}

import { chmod, lchown, lstat, lutimes, mkdir, rm, unlink } from 'node:fs/promises';
import { posix } from 'node:path';
import { resolveInRoot } from '../context/scoped-path.js';
import type { Owner } from './owner.js';

/**
 * Writing inside a container root filesystem from the host. Every path is resolved with the
 * root as `/`, so a symlink in the image (`/app -> /etc`) can never make us write on the host.
 */
export class RootWriter {
  private dirs = new Map<string, string>();
  constructor(readonly rootfs: string) {}

  /** Host path of an in-root directory, following symlinks inside the root. Cached per build step. */
  async hostDir(inRoot: string): Promise<string> {
    const hit = this.dirs.get(inRoot);
    if (hit) return hit;
    const { host } = await resolveInRoot(this.rootfs, inRoot, true);
    this.dirs.set(inRoot, host);
    return host;
  }

  /** Host path for an entry at `inRoot`: its parent resolved, its last component not followed. */
  async hostPath(inRoot: string): Promise<string> {
    const dir = posix.dirname(inRoot);
    return posix.join(await this.hostDir(dir), posix.basename(inRoot));
  }

  /** mkdir -p inside the root; created directories get `mode`, `owner` and `mtime` (when given). */
  async mkdirAll(inRoot: string, mode: number, owner: Owner, mtime?: Date): Promise<string> {
    const parts = inRoot.split('/').filter(Boolean);
    let cur = '/';
    let host = this.rootfs;
    for (const p of parts) {
      cur = posix.join(cur, p);
      host = await this.hostDir(cur);
      const st = await lstat(host).catch(() => undefined);
      if (st?.isDirectory()) continue;
      if (st) throw new Error(`cannot create directory ${cur}: a file exists there`);
      await mkdir(host);
      await lchown(host, owner.uid, owner.gid);
      await chmod(host, mode);
      if (mtime) await lutimes(host, mtime, mtime);
    }
    return host;
  }

  /** Makes room for a new non-directory entry: removes whatever is there (a directory too, if asked). */
  async clear(host: string, removeDirs: boolean): Promise<void> {
    const st = await lstat(host).catch(() => undefined);
    if (!st) return;
    if (st.isDirectory()) {
      if (!removeDirs) throw new Error(`cannot overwrite directory ${host.slice(this.rootfs.length) || '/'} with a non-directory`);
      await rm(host, { recursive: true, force: true });
    } else await unlink(host);
  }
}

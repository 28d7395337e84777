/**
 * Persistent cache directories for `RUN --mount=type=cache`: outside every snapshot, kept between
 * builds, bind-mounted over the rootfs so nothing in them reaches a layer.
 *
 *   <storeRoot>/cache-mounts/<hex>/id        the id (and seed) it belongs to, for humans
 *   <storeRoot>/cache-mounts/<hex>/<n>/      slot n: 0 is the one shared/locked users see; private
 *                                            users take the first slot nobody holds
 *   <storeRoot>/cache-mounts/locks/<hex>.<n> flock of slot n: shared users share it, locked and
 *                                            private users hold it exclusively, prune tries it
 *   <storeRoot>/cache-mounts/locks/<hex>.init held while a slot is created or an entry removed
 *
 * Lock files are never removed: a process waiting on one holds it open, and a new file at the same
 * path would be a different lock.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, chown, lstat, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runTool } from '../snapshot/run-tool.js';
import { type FileLock, lockFile } from './flock.js';
import { MountError } from './types.js';

export interface CacheMountSpec {
  id: string;
  sharing: 'shared' | 'private' | 'locked';
  /** Applied when a slot is created (default 0755 root:root, or the seed's own when seeded). */
  mode?: number;
  uid?: number;
  gid?: number;
  /** A host directory whose content initialises a new slot (`from=`/`source=`). */
  seed?: string;
  /** Identifies the seed: a cache seeded from something else is another cache. */
  seedIdentity?: string;
}

export interface AcquiredCacheMount {
  /** The host directory to bind-mount. */
  dir: string;
  release(): Promise<void>;
}

export function cacheMountsRoot(storeRoot: string): string {
  return join(storeRoot, 'cache-mounts');
}

function entryHex(spec: Pick<CacheMountSpec, 'id' | 'seedIdentity'>): string {
  return createHash('sha256').update('tsbuild-cache-mount-v1\n').update(spec.id).update('\n').update(spec.seedIdentity ?? '').digest('hex');
}

const locksDir = (root: string) => join(root, 'locks');
const slotLock = (root: string, hex: string, n: number) => join(locksDir(root), `${hex}.${n}`);
const initLock = (root: string, hex: string) => join(locksDir(root), `${hex}.init`);

/** Takes a slot of the cache `spec.id` as its sharing mode says, creating it on first use. */
export async function acquireCacheMount(storeRoot: string, spec: CacheMountSpec, signal?: AbortSignal): Promise<AcquiredCacheMount> {
  const root = cacheMountsRoot(storeRoot);
  const hex = entryHex(spec);
  let lock: FileLock | undefined;
  let slot = 0;
  if (spec.sharing === 'private') {
    // The first slot nobody holds; there are never more slots than concurrent users.
    for (; ; slot++) {
      lock = await lockFile(slotLock(root, hex, slot), 'exclusive', { wait: false, ...(signal ? { signal } : {}) });
      if (lock) break;
    }
  } else {
    lock = await lockFile(slotLock(root, hex, 0), spec.sharing === 'locked' ? 'exclusive' : 'shared', signal ? { signal } : {});
  }
  try {
    const dir = join(root, hex, String(slot));
    if (!(await isDir(dir))) await createSlot(root, hex, dir, spec, signal);
    return { dir, release: () => lock!.release() };
  } catch (e) {
    await lock!.release();
    throw e;
  }
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

async function createSlot(root: string, hex: string, dir: string, spec: CacheMountSpec, signal?: AbortSignal): Promise<void> {
  const init = (await lockFile(initLock(root, hex), 'exclusive', signal ? { signal } : {}))!;
  try {
    if (await isDir(dir)) return;
    const entry = join(root, hex);
    await mkdir(entry, { recursive: true });
    await writeFile(join(entry, 'id'), `${JSON.stringify({ id: spec.id, ...(spec.seedIdentity ? { seed: spec.seedIdentity } : {}) })}\n`);
    const tmp = join(entry, `.tmp-${randomBytes(6).toString('hex')}`);
    await mkdir(tmp, { mode: 0o755 });
    try {
      if (spec.seed) {
        const r = await runTool('cp', ['-a', '--reflink=auto', `${spec.seed}/.`, `${tmp}/`]);
        if (r.code !== 0) throw new MountError(`cannot seed cache mount ${spec.id}: ${r.stderr.trim().split('\n')[0]}`);
      }
      if (!spec.seed || spec.uid !== undefined || spec.gid !== undefined) await chown(tmp, spec.uid ?? 0, spec.gid ?? 0);
      if (!spec.seed || spec.mode !== undefined) await chmod(tmp, spec.mode ?? 0o755);
      await rename(tmp, dir);
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      throw e;
    }
  } finally {
    await init.release();
  }
}

export interface PruneCacheMountsResult {
  /** Cache slots removed. */
  removed: number;
  /** Bytes of file content they held. */
  bytes: number;
  /** Slots kept because a build is using them. */
  inUse: number;
}

/** `tsbuild prune --cache-mounts`: removes every cache mount no running build holds. */
export async function pruneCacheMounts(storeRoot: string): Promise<PruneCacheMountsResult> {
  const root = cacheMountsRoot(storeRoot);
  const result: PruneCacheMountsResult = { removed: 0, bytes: 0, inUse: 0 };
  let entries: string[];
  try {
    entries = await readdir(root);
  } catch {
    return result;
  }
  for (const hex of entries) {
    if (!/^[0-9a-f]{64}$/.test(hex)) continue;
    const entry = join(root, hex);
    const init = await lockFile(initLock(root, hex), 'exclusive', { wait: false });
    if (!init) {
      result.inUse++;
      continue;
    }
    try {
      let busy = false;
      for (const name of await readdir(entry)) {
        if (name.startsWith('.tmp-')) {
          await rm(join(entry, name), { recursive: true, force: true });
          continue;
        }
        if (!/^\d+$/.test(name)) continue;
        const lock = await lockFile(slotLock(root, hex, Number(name)), 'exclusive', { wait: false });
        if (!lock) {
          busy = true;
          result.inUse++;
          continue;
        }
        try {
          result.bytes += await treeBytes(join(entry, name));
          await rm(join(entry, name), { recursive: true, force: true });
          result.removed++;
        } finally {
          await lock.release();
        }
      }
      if (!busy) await rm(entry, { recursive: true, force: true });
    } finally {
      await init.release();
    }
  }
  return result;
}

/** Sum of regular file sizes under `dir` (symlinks not followed). */
async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  const pending = [dir];
  while (pending.length > 0) {
    const d = pending.pop()!;
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = join(d, e.name);
      if (e.isDirectory()) pending.push(p);
      else if (e.isFile()) total += (await lstat(p).catch(() => ({ size: 0 }))).size;
    }
  }
  return total;
}

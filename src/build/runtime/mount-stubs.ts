import { lstat, readdir, rm, rmdir } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { join, posix } from 'node:path';
import { setTimes } from '../snapshot/fs-ops.js';

/**
 * Keeping mount-point stubs out of layers.
 *
 * The runtime creates a mount target that does not exist in the rootfs (an empty /etc/resolv.conf,
 * /etc/hosts, /proc on a scratch image, a RUN --mount target...) before mounting over it. Through an
 * overlay that empty file lands in the upper dir and would become part of the layer. Docker's and
 * BuildKit's answer is to remove such stubs after the run; we do the same, through the rootfs (so it
 * works for any snapshotter), with narrow rules:
 *  - before the run, for each mount destination not under another mount, note the top-most missing
 *    path component, and the deepest existing ancestor with its entry names and mtime;
 *  - after the run, remove the destination only if it is still an empty regular file or empty dir,
 *    then the dirs created on the way to it if they are empty;
 *  - if the ancestor now holds exactly the names it held before, put its mtime back, so the overlay
 *    copy-up of that dir carries no change (the snapshotter then drops it from the upper dir).
 * Nothing is pre-created in the upper dir, and a destination behind a symlink is left alone.
 */
export interface MountStubRecord {
  /** Container paths created by the runtime, top-most first, ending with the destination. */
  created: string[];
  anchor: string;
  anchorNames: string[];
  anchorStat: BigIntStats;
}

async function lstatMaybe(p: string): Promise<BigIntStats | undefined> {
  try {
    return await lstat(p, { bigint: true });
  } catch {
    return undefined;
  }
}

/** Notes which mount destinations do not exist in `rootfs` yet. Call right before starting the container. */
export async function recordMountTargets(rootfs: string, destinations: string[]): Promise<MountStubRecord[]> {
  const norm = [...new Set(destinations.map((d) => posix.normalize(`/${d}`)))];
  const records: MountStubRecord[] = [];
  for (const dest of norm) {
    if (dest === '/') continue;
    // Inside another mount (e.g. /dev/pts under the /dev tmpfs): the runtime creates it there, not here.
    if (norm.some((m) => m !== dest && m !== '/' && dest.startsWith(`${m}/`))) continue;
    const parts = dest.split('/').filter(Boolean);
    let anchor = '/';
    let missingFrom = -1;
    let viaSymlink = false;
    for (let i = 0; i < parts.length; i++) {
      const p = `/${parts.slice(0, i + 1).join('/')}`;
      const st = await lstatMaybe(join(rootfs, p));
      if (!st) {
        missingFrom = i;
        break;
      }
      if (st.isSymbolicLink()) {
        viaSymlink = true;
        break;
      }
      anchor = p;
    }
    if (viaSymlink || missingFrom < 0) continue;
    const anchorStat = await lstatMaybe(join(rootfs, anchor));
    if (!anchorStat?.isDirectory()) continue;
    const created = parts.slice(missingFrom).map((_, j) => `/${parts.slice(0, missingFrom + j + 1).join('/')}`);
    records.push({ created, anchor, anchorNames: (await readdir(join(rootfs, anchor))).sort(), anchorStat });
  }
  return records;
}

/** Removes the stubs noted by recordMountTargets. Call after the container is gone (mounts are gone with it). */
export async function removeMountStubs(rootfs: string, records: MountStubRecord[]): Promise<void> {
  for (const r of records) {
    for (const p of [...r.created].reverse()) {
      const full = join(rootfs, p);
      const st = await lstatMaybe(full);
      if (!st) continue;
      if (st.isFile() && st.size === 0n) await rm(full);
      else if (st.isDirectory() && (await readdir(full)).length === 0) await rmdir(full);
      else break;
    }
  }
  const anchors = new Map<string, MountStubRecord>();
  for (const r of records) anchors.set(r.anchor, r);
  const restore: { path: string; mtimeNs: bigint }[] = [];
  for (const r of anchors.values()) {
    const full = join(rootfs, r.anchor);
    const st = await lstatMaybe(full);
    if (!st?.isDirectory() || st.mtimeNs === r.anchorStat.mtimeNs) continue;
    const names = (await readdir(full)).sort();
    if (names.length === r.anchorNames.length && names.every((n, i) => n === r.anchorNames[i])) {
      restore.push({ path: full, mtimeNs: r.anchorStat.mtimeNs });
    }
  }
  await setTimes(restore);
}

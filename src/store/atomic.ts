import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** A temp file name next to `target` (same filesystem, so rename is atomic); tagged with our pid for GC. */
export function tempPathFor(target: string): string {
  return join(dirname(target), `.tmp-${process.pid}-${randomBytes(6).toString('hex')}-${basename(target).slice(0, 40)}`);
}

/**
 * Writes a small file so that readers see the old content or the new, never a mix: temp, fsync, rename.
 * `durable: false` keeps the atomic rename but skips both fsyncs, for files that mean nothing after a
 * crash (a hold names a live process; once the machine restarts that process is gone anyway).
 */
export async function writeFileAtomic(target: string, data: Uint8Array | string, opts: { durable?: boolean } = {}): Promise<void> {
  const durable = opts.durable !== false;
  await mkdir(dirname(target), { recursive: true });
  const tmp = tempPathFor(target);
  const fh = await open(tmp, 'wx', 0o644);
  try {
    await fh.writeFile(data);
    if (durable) await fh.sync();
  } catch (e) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await fh.close();
  try {
    await rename(tmp, target);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
  if (durable) await syncDir(dirname(target));
}

/** A small file written by writeFileAtomic, or undefined when it does not exist (yet, or any more). */
export async function readFileIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Makes a rename durable. Best effort: some filesystems refuse fsync on directories. */
export async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // not fatal: the rename itself is atomic
  }
}

/** Whether a process is alive (used to tell stale holds, locks and temp files from live ones). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

import { randomBytes } from 'node:crypto';
import { copyFile, lstat, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveInRoot } from '../context/scoped-path.js';
import { runTool } from '../snapshot/run-tool.js';
import { MountError } from './types.js';

/**
 * `source` inside `root` as a host path: symlinks and `..` are followed but stay inside `root`. The
 * path must exist (BuildKit fails the step the same way).
 */
export async function resolveMountSource(root: string, source: string | undefined, what: string): Promise<{ host: string; isDir: boolean }> {
  const { host, path } = await resolveInRoot(root, source ?? '/');
  const st = await lstat(host).catch(() => undefined);
  if (!st) throw new MountError(`${what}: ${JSON.stringify(path)} not found`);
  return { host, isDir: st.isDirectory() };
}

/**
 * A writable view of `source` whose writes are thrown away: an overlay with `source` as its only
 * lower (a copy where overlay cannot be mounted, or for a single file). `dispose` unmounts and
 * removes everything written.
 */
export async function discardableCopy(storeRoot: string, source: { host: string; isDir: boolean }): Promise<{ path: string; dispose(): Promise<void> }> {
  const base = join(storeRoot, 'tmp', `rw-mount-${randomBytes(8).toString('hex')}`);
  await mkdir(base, { recursive: true });
  const dispose = () => rm(base, { recursive: true, force: true });
  try {
    if (!source.isDir) {
      const path = join(base, 'file');
      const r = await runTool('cp', ['-a', '--reflink=auto', source.host, path]);
      if (r.code !== 0) await copyFile(source.host, path);
      return { path, dispose };
    }
    const upper = join(base, 'upper');
    const work = join(base, 'work');
    const merged = join(base, 'merged');
    await Promise.all([mkdir(upper), mkdir(work), mkdir(merged)]);
    // Overlay separates lowerdirs with ':' and options with ',': such paths cannot be named.
    if (!/[:,\\]/.test(source.host)) {
      const r = await runTool('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${source.host},upperdir=${upper},workdir=${work}`, merged]);
      if (r.code === 0) {
        return {
          path: merged,
          async dispose() {
            const u = await runTool('umount', [merged]);
            if (u.code !== 0) await runTool('umount', ['-l', merged]);
            await rm(base, { recursive: true, force: true });
          },
        };
      }
    }
    const r = await runTool('cp', ['-a', '--reflink=auto', `${source.host}/.`, `${merged}/`]);
    if (r.code !== 0) throw new MountError(`cannot copy ${source.host} for a rw bind mount: ${r.stderr.trim().split('\n')[0]}`);
    return { path: merged, dispose };
  } catch (e) {
    await dispose();
    throw e;
  }
}

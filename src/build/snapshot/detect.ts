import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { release } from 'node:os';
import { join, resolve } from 'node:path';
import { inUserNamespace } from '../../rootless/namespace.js';
import { CopySnapshotter } from './copy.js';
import { OverlaySnapshotter } from './overlay.js';
import { spreadSubdirs } from './spread-dirs.js';
import type { Snapshotter } from './snapshotter.js';

const cache = new Map<string, Promise<Snapshotter>>();

/**
 * The best snapshotter for `workRoot`: overlayfs when a real overlay mount works there, else the copy
 * snapshotter. `TSBUILD_SNAPSHOTTER=overlay|copy` forces one. A successful probe is remembered in the
 * work root (see probeSnapshotter), so a build process does not pay two mounts to learn it again.
 */
export function detectSnapshotter(workRoot: string, env: NodeJS.ProcessEnv = process.env): Promise<Snapshotter> {
  const root = resolve(workRoot);
  const forced = env.TSBUILD_SNAPSHOTTER;
  if (forced === 'copy') return Promise.resolve(new CopySnapshotter({ workRoot: root }));
  if (forced === 'overlay') return Promise.resolve(new OverlaySnapshotter({ workRoot: root }));
  let p = cache.get(root);
  if (!p) {
    p = probeSnapshotter(root);
    cache.set(root, p);
  }
  return p;
}

/** Where a successful overlay probe is remembered, and what it was true for. */
const MARKER = '.overlay-ok';

/** What an overlay probe depends on: the kernel, who we are, and the filesystem under the work root. */
async function probeKey(root: string): Promise<string> {
  const st = await stat(root);
  // `spread`: the work root has had spreadSubdirs (roots probed before it existed get it now).
  return `kernel=${release()} uid=${process.getuid?.() ?? -1} userns=${inUserNamespace()} dev=${st.dev} spread=1\n`;
}

/** Tries a real overlay mount in `root` (unless one already worked for the same kernel, user and filesystem). */
export async function probeSnapshotter(root: string): Promise<Snapshotter> {
  let overlay: OverlaySnapshotter;
  try {
    overlay = new OverlaySnapshotter({ workRoot: root });
  } catch {
    return new CopySnapshotter({ workRoot: root });
  }
  await mkdir(root, { recursive: true });
  const key = await probeKey(root);
  const marker = join(root, MARKER);
  if ((await readFile(marker, 'utf8').catch(() => undefined)) === key) return overlay;
  await spreadSubdirs(root);
  const lower = await mkdtemp(join(root, 'probe-'));
  try {
    await writeFile(join(lower, 'f'), 'x');
    const snap = await overlay.prepare([lower], { label: 'probe' });
    await snap.discard();
  } catch {
    return new CopySnapshotter({ workRoot: root });
  } finally {
    await rm(lower, { recursive: true, force: true });
  }
  // Only a hint: written by rename so a reader sees all of it or nothing; losing it costs one probe.
  const tmp = join(root, `${MARKER}.${process.pid}`);
  await writeFile(tmp, key);
  await rename(tmp, marker).catch(() => rm(tmp, { force: true }));
  return overlay;
}

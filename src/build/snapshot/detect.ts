import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CopySnapshotter } from './copy.js';
import { OverlaySnapshotter } from './overlay.js';
import type { Snapshotter } from './snapshotter.js';

const cache = new Map<string, Promise<Snapshotter>>();

/**
 * The best snapshotter for `workRoot`: overlayfs when a real overlay mount works there (tried once per
 * work root and process), else the copy snapshotter. `TSBUILD_SNAPSHOTTER=overlay|copy` forces one.
 */
export function detectSnapshotter(workRoot: string, env: NodeJS.ProcessEnv = process.env): Promise<Snapshotter> {
  const root = resolve(workRoot);
  const forced = env.TSBUILD_SNAPSHOTTER;
  if (forced === 'copy') return Promise.resolve(new CopySnapshotter({ workRoot: root }));
  if (forced === 'overlay') return Promise.resolve(new OverlaySnapshotter({ workRoot: root }));
  let p = cache.get(root);
  if (!p) {
    p = probe(root);
    cache.set(root, p);
  }
  return p;
}

async function probe(root: string): Promise<Snapshotter> {
  let overlay: OverlaySnapshotter;
  try {
    overlay = new OverlaySnapshotter({ workRoot: root });
  } catch {
    return new CopySnapshotter({ workRoot: root });
  }
  await mkdir(root, { recursive: true });
  const lower = await mkdtemp(join(root, 'probe-'));
  try {
    await writeFile(join(lower, 'f'), 'x');
    const snap = await overlay.prepare([lower], { label: 'probe' });
    await snap.discard();
    return overlay;
  } catch {
    return new CopySnapshotter({ workRoot: root });
  } finally {
    await rm(lower, { recursive: true, force: true });
  }
}

import { execFileSync } from 'node:child_process';
import { createReadStream, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Digest } from '../../src/image/digest.js';
import type { LayerRef, LayerSource } from '../../src/build/snapshot/layer-cache.js';
import { loadOciLayout } from '../../src/store/oci-layout.js';
import { openStore, type Store } from '../../src/store/store.js';

/** Shared by the snapshot/runtime/run-command tests: the busybox base image from testdata. */
export interface BusyboxImage {
  layoutDir: string;
  /** Removes the layout. */
  cleanup(): Promise<void>;
  layer: LayerRef;
  config: { config?: { Env?: string[]; Cmd?: string[] } };
  /** A LayerSource over the layout's blobs. */
  source(storeRoot: string): LayerSource;
}

export async function makeBusyboxImage(): Promise<BusyboxImage> {
  const dir = await mkdtemp(join(tmpdir(), 'tsbuild-bb-'));
  const layoutDir = join(dir, 'layout');
  // The script sometimes dies of SIGPIPE under pipefail (`busybox | head -1`, reported): retry.
  for (let attempt = 1; ; attempt++) {
    try {
      execFileSync('bash', [resolve('testdata/make-busybox-image.sh'), layoutDir], { stdio: ['ignore', 'pipe', 'pipe'] });
      break;
    } catch (e) {
      if (attempt >= 5) {
        await rm(dir, { recursive: true, force: true });
        throw new Error(`make-busybox-image.sh failed: ${String((e as { stderr?: Buffer }).stderr ?? e)}`);
      }
    }
  }
  const blob = (d: string) => join(layoutDir, 'blobs', 'sha256', d.slice('sha256:'.length));
  const index = JSON.parse(readFileSync(join(layoutDir, 'index.json'), 'utf8'));
  const manifest = JSON.parse(await readFile(blob(index.manifests[0].digest), 'utf8'));
  const config = JSON.parse(await readFile(blob(manifest.config.digest), 'utf8'));
  return {
    layoutDir,
    cleanup: () => rm(dir, { recursive: true, force: true }),
    layer: { diffId: config.rootfs.diff_ids[0] as Digest, descriptor: manifest.layers[0] },
    config,
    source: (root) => ({ root, blobs: { open: (d: Digest) => createReadStream(blob(d)) } }),
  };
}

/** Overlay mounts below `dir` still listed in /proc/mounts. */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .filter((l) => l.split(' ')[1]?.startsWith(dir));
}

export function runcList(): string[] {
  const out = execFileSync('runc', ['list', '-q'], { encoding: 'utf8' });
  return out.split('\n').filter(Boolean);
}

/** A store at `dir` (new, or as it is) holding the busybox layout `layoutDir` as busybox:latest. */
export async function storeWithBusybox(dir: string, layoutDir: string): Promise<Store> {
  const store = await openStore(dir);
  await loadOciLayout(store, layoutDir, { defaultName: 'busybox:latest' });
  return store;
}

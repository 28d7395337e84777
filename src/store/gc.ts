import { open, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Descriptor } from '../image/descriptor.js';
import type { Digest } from '../image/digest.js';
import { type AnyManifest, isIndex, parseManifest } from '../image/manifest.js';
import { isIndexMediaType, isManifestMediaType } from '../image/media-types.js';
import { pidAlive } from './atomic.js';
import { heldDigests } from './holds.js';
import type { Store } from './store.js';

export interface GcOptions {
  /** Key-value namespaces to empty before marking (e.g. the build cache for `tsbuild prune`). */
  clearNamespaces?: string[];
  /** Report what would go, remove nothing. */
  dryRun?: boolean;
}

export interface GcResult {
  removedBlobs: Digest[];
  reclaimedBytes: number;
  clearedEntries: number;
  keptBlobs: number;
}

export class GcBusyError extends Error {
  override name = 'GcBusyError';
}

// Small enough to be a manifest; bigger blobs referenced without a media type are never parsed.
const MANIFEST_SNIFF_LIMIT = 4 << 20;

/**
 * Mark and sweep. Roots: image names, key-value entries' refs (entries with a dead `owner` are
 * dropped), and holds of live processes. Order matters for safety against concurrent writers:
 * blobs are listed FIRST and roots read AFTER, and a writer adds its hold before it commits, so
 * any blob in the listing that a writer wanted is already in a hold GC reads. A blob whose mtime
 * is after GC started (re-written or touched meanwhile) is never removed.
 */
export async function collectGarbage(store: Store, opts: GcOptions = {}): Promise<GcResult> {
  const release = await lockGc(store.root);
  try {
    const started = Date.now();
    let cleared = 0;
    for (const ns of opts.clearNamespaces ?? []) if (!opts.dryRun) cleared += await store.kv(ns).clear();

    const all: Digest[] = [];
    for await (const d of store.blobs.list()) all.push(d);

    const live = new Set<Digest>();
    const walk = async (d: Digest, mediaType: string | undefined): Promise<void> => {
      if (live.has(d)) return;
      live.add(d);
      const info = await store.blobs.stat(d);
      if (!info) return;
      if (mediaType && !isManifestMediaType(mediaType) && !isIndexMediaType(mediaType)) return;
      if (!mediaType && info.size > MANIFEST_SNIFF_LIMIT) return;
      let m: AnyManifest;
      try {
        m = parseManifest(await store.blobs.readBytes(d));
      } catch {
        return; // a config, a non-manifest blob held by digest, or a corrupt blob: nothing below it
      }
      const children: Descriptor[] = isIndex(m) ? m.manifests : [m.config, ...m.layers];
      for (const c of children) await walk(c.digest, c.mediaType);
    };

    for (const r of await store.images.list()) await walk(r.target.digest, r.target.mediaType);
    for (const d of await heldDigests(join(store.root, 'holds'))) await walk(d, undefined);
    const owned: { ns: string; key: string; owner: Digest; refs: Digest[] }[] = [];
    for (const ns of await store.kvNamespaces()) {
      for await (const e of store.kv(ns).entries()) {
        if (e.owner) owned.push({ ns, key: e.key, owner: e.owner, refs: e.refs });
        else for (const d of e.refs) await walk(d, undefined);
      }
    }
    // Owned entries (memos) keep their refs only while their owner lives; run to a fixed point.
    for (let changed = true; changed; ) {
      changed = false;
      for (const o of owned) {
        if (live.has(o.owner) && o.refs.some((d) => !live.has(d))) {
          for (const d of o.refs) await walk(d, undefined);
          changed = true;
        }
      }
    }

    const result: GcResult = { removedBlobs: [], reclaimedBytes: 0, clearedEntries: cleared, keptBlobs: 0 };
    for (const d of all) {
      if (live.has(d)) {
        result.keptBlobs++;
        continue;
      }
      const p = store.blobs.path(d);
      let st;
      try {
        st = await stat(p);
      } catch {
        continue;
      }
      if (st.mtimeMs >= started) {
        result.keptBlobs++;
        continue;
      }
      if (!opts.dryRun) await unlink(p).catch(() => {});
      result.removedBlobs.push(d);
      result.reclaimedBytes += st.size;
    }
    if (!opts.dryRun) {
      for (const o of owned) {
        if (!(await store.blobs.has(o.owner))) {
          await store.kv(o.ns).delete(o.key);
          result.clearedEntries++;
        }
      }
      await removeDeadTemps(store);
    }
    return result;
  } finally {
    await release();
  }
}

/** Temp files of writers that died (named `.tmp-<pid>-...`). */
async function removeDeadTemps(store: Store): Promise<void> {
  for (const algo of ['sha256', 'sha512']) {
    const dir = join(store.root, 'blobs', algo);
    let names: string[] = [];
    try {
      names = await readdir(dir);
    } catch {
      continue;
    }
    for (const n of names) {
      const m = /^\.tmp-(\d+)-/.exec(n);
      if (m && !pidAlive(Number(m[1]))) await unlink(join(dir, n)).catch(() => {});
    }
  }
}

/** One GC at a time per store: `<root>/gc.lock` holds the pid; a dead owner's lock is taken over. */
async function lockGc(root: string): Promise<() => Promise<void>> {
  const file = join(root, 'gc.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(file, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      return async () => {
        await unlink(file).catch(() => {});
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number((await readFile(file, 'utf8').catch(() => '')).trim());
      if (pidAlive(pid)) throw new GcBusyError(`another garbage collection (pid ${pid}) is running on ${root}`);
      await unlink(file).catch(() => {});
    }
  }
  throw new GcBusyError(`cannot lock ${file}`);
}

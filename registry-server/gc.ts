import { type Digest, isDigest } from '../src/image/digest.js';
import { isIndex, parseManifest } from '../src/image/manifest.js';
import { listRepositories } from './catalog.js';
import { BLOBS_ROOT, blobDataPath, layerLinkPath, repoPath, revisionsPath } from './layout.js';
import { isNotFound, type StorageDriver } from './storage/driver.js';

export interface GcOptions {
  dryRun?: boolean;
  /**
   * Blobs younger than this are kept even when unreferenced: a push in progress uploads its blobs
   * before the manifest that references them. Default 1 hour.
   */
  gracePeriodMs?: number;
  now?: number;
  /** Told about each blob deleted (or that would be, in a dry run). */
  onBlob?: (digest: Digest, size: number) => void;
}

export interface GcResult {
  /** Blobs some manifest references. */
  referenced: number;
  /** Unreferenced blobs deleted (or that a dry run would delete). */
  deleted: Digest[];
  freedBytes: number;
  /** Unreferenced blobs kept because they are younger than the grace period. */
  spared: number;
  /** Repository links removed (or that a dry run would remove) because their blob is gone. */
  unlinked: number;
}

/**
 * Mark and sweep over the whole store. Roots are every manifest revision of every repository;
 * from each, its config and layers or its child manifests are marked. Safe while the server runs:
 * nothing younger than the grace period is swept, and the server touches blobs it links or reports
 * as present, so a push that relies on an existing blob keeps it young.
 */
export async function collectGarbage(driver: StorageDriver, opts: GcOptions = {}): Promise<GcResult> {
  const grace = opts.gracePeriodMs ?? 60 * 60_000;
  const now = opts.now ?? Date.now();
  const marked = new Set<string>();
  const repos = await listRepositories(driver);

  for (const repo of repos) {
    for (const alg of await driver.list(revisionsPath(repo))) {
      for (const hex of await driver.list(`${revisionsPath(repo)}/${alg}`)) {
        const d = `${alg}:${hex}`;
        if (!isDigest(d)) continue;
        marked.add(d);
        let content: Buffer;
        try {
          content = await driver.getContent(blobDataPath(d));
        } catch (e) {
          if (isNotFound(e)) continue;
          throw e;
        }
        try {
          const m = parseManifest(content);
          const refs = isIndex(m) ? m.manifests : [m.config, ...m.layers];
          for (const r of refs) marked.add(r.digest);
        } catch {
          // A manifest we cannot parse still protects itself; it references nothing we can name.
        }
      }
    }
  }

  const result: GcResult = { referenced: marked.size, deleted: [], freedBytes: 0, spared: 0, unlinked: 0 };
  for (const alg of await driver.list(BLOBS_ROOT)) {
    for (const prefix of await driver.list(`${BLOBS_ROOT}/${alg}`)) {
      for (const hex of await driver.list(`${BLOBS_ROOT}/${alg}/${prefix}`)) {
        const d = `${alg}:${hex}`;
        if (!isDigest(d) || marked.has(d)) continue;
        let info;
        try {
          info = await driver.stat(blobDataPath(d));
        } catch (e) {
          if (isNotFound(e)) continue;
          throw e;
        }
        if (now - info.modTime.getTime() < grace) {
          result.spared++;
          continue;
        }
        opts.onBlob?.(d, info.size);
        if (!opts.dryRun) await driver.delete(`${BLOBS_ROOT}/${alg}/${prefix}/${hex}`);
        result.deleted.push(d);
        result.freedBytes += info.size;
      }
    }
  }
  result.unlinked = await unlinkSwept(driver, repos, new Set(result.deleted), opts.dryRun ?? false);
  return result;
}

/**
 * A repository's `_layers` link to a blob that is gone would make the repository claim a blob it
 * cannot serve (and make the blob reappear there if the same bytes were pushed elsewhere). Links to
 * blobs swept now, and dangling ones left by earlier runs, are removed.
 */
async function unlinkSwept(driver: StorageDriver, repos: string[], swept: Set<string>, dryRun: boolean): Promise<number> {
  let n = 0;
  for (const repo of repos) {
    const layers = `${repoPath(repo)}/_layers`;
    for (const alg of await driver.list(layers)) {
      for (const hex of await driver.list(`${layers}/${alg}`)) {
        const d = `${alg}:${hex}`;
        if (!isDigest(d)) continue;
        let gone = swept.has(d);
        if (!gone && !dryRun) {
          try {
            await driver.stat(blobDataPath(d));
          } catch (e) {
            if (!isNotFound(e)) throw e;
            gone = true;
          }
        }
        if (!gone) continue;
        if (!dryRun) await driver.delete(layerLinkPath(repo, d).replace(/\/link$/, ''));
        n++;
      }
    }
  }
  return n;
}

import { createHash } from 'node:crypto';
import { lstat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { layerTime } from '../../image/layer/write-layer.js';
import type { CacheKey } from '../cache-key.js';
import type { CopyPlan } from './copy.js';
import type { Owner } from './owner.js';

/**
 * The key of what a COPY adds, apart from the layers it lands on: equal keys mean equal layers,
 * so a COPY whose parent changed (an edit earlier in the Dockerfile) can take the layer an earlier
 * build made for the same files instead of copying, tarring, hashing and syncing them again.
 *
 * That holds only where the parent cannot shape the diff. A copy writes nothing but the
 * destination and what is below it; the parent shows through the destination's ancestors
 * (copied up with their owner, mode and time, or created for the copy) and through whatever
 * already sits at the destination (merged into, replaced, or a symlink to follow). So: the
 * destination must not exist, every existing ancestor must be a real directory, and what the
 * ancestors are goes into the key. The nearest one's time is left out: creating the destination
 * in it sets that time anew; the others' count as the layer will record them (whole seconds,
 * clamped to SOURCE_DATE_EPOCH). Returns undefined when the parent could shape the diff.
 *
 * `step` is what else decides the layer: the instruction and its sources' checksum.
 */
export async function copyDiffKey(
  plan: CopyPlan,
  rootfs: string,
  opts: { owner: Owner; sourceDateEpoch: number | undefined; step: readonly string[] },
): Promise<CacheKey | undefined> {
  const dest = plan.dest.endsWith('/') ? plan.dest.slice(0, -1) : plan.dest;
  if (dest === '' || dest === '/') return undefined;
  const parts = dest.split('/').filter(Boolean);
  const { owner, sourceDateEpoch } = opts;
  const lines = [`dest ${JSON.stringify(plan.dest)}`, `checksum ${plan.checksum}`, `owner ${owner.uid}:${owner.gid}`, `epoch ${sourceDateEpoch ?? ''}`, ...opts.step];
  let path = '';
  for (let i = 0; i < parts.length; i++) {
    path = posix.join(path || '/', parts[i]!);
    // Component by component with lstat: the host must never follow a symlink of the image.
    const st = await lstat(join(rootfs, path)).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw e;
    });
    if (!st) {
      lines.push(`missing ${path}`);
      break;
    }
    if (i === parts.length - 1 || !st.isDirectory()) return undefined;
    const nearest = i === parts.length - 2;
    lines.push(`dir ${path} ${st.mode.toString(8)} ${st.uid}:${st.gid}${nearest ? '' : ` ${layerTime(st.mtimeMs, sourceDateEpoch)}`}`);
  }
  const h = createHash('sha256').update('tsbuild-copy-diff-v1\n');
  for (const l of lines) h.update(l).update('\n');
  return `sha256:${h.digest('hex')}`;
}

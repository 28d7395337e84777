import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { chmod, lchown, link, lstat, lutimes, mkdir, readdir, rm, symlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import tar from 'tar-stream';
import { decompressed } from './compression.js';
import { entryComponents, LayerPathError, resolveInRoot } from './safe-path.js';
import { OPAQUE_WHITEOUT, WHITEOUT_PREFIX } from './whiteout.js';
import { type XattrMap, writeXattrs } from './xattrs.js';

const run = promisify(execFile);

export interface ApplyLayerOptions {
  /** Set owners from the tar (default: when running as root). */
  chown?: boolean;
  /** Restore xattrs (default true; needs setfattr, otherwise counted in stats.xattrsSkipped). */
  xattrs?: boolean;
  signal?: AbortSignal;
}

export interface ApplyStats {
  entries: number;
  files: number;
  directories: number;
  symlinks: number;
  hardlinks: number;
  devices: number;
  whiteouts: number;
  bytes: number;
  xattrsSkipped: number;
}

type Header = Omit<tar.Header, 'type' | 'pax'> & { type?: tar.Header['type'] | null; pax?: Record<string, string> | null };

/**
 * Applies a layer tar (plain, gzip or zstd: detected) onto `target`, as the OCI image spec says:
 * `.wh.x` removes x, `.wh..wh..opq` empties the directory of what lower layers put there, other
 * entries replace what is at their path (directories merge). Entries with `..`, or whose parent
 * resolves through a symlink to outside `target`, abort the apply with LayerPathError before
 * anything is written for them; symlinks inside are followed with chroot semantics, so nothing
 * is ever created outside `target`. Modes, owners, mtimes, xattrs, hardlinks, devices restored.
 */
export async function applyLayer(input: Readable, target: string, opts: ApplyLayerOptions = {}): Promise<ApplyStats> {
  const chown = opts.chown ?? process.getuid?.() === 0;
  const stats: ApplyStats = { entries: 0, files: 0, directories: 0, symlinks: 0, hardlinks: 0, devices: 0, whiteouts: 0, bytes: 0, xattrsSkipped: 0 };
  await mkdir(target, { recursive: true });
  const tarStream = await decompressed(input);
  const extract = tar.extract();
  tarStream.on('error', (e) => extract.destroy(e));
  tarStream.pipe(extract as unknown as NodeJS.WritableStream);

  // Paths written by this layer: an opaque marker only hides what lower layers put in the directory.
  const created = new Set<string>();
  const dirTimes: { path: string; mtime: Date }[] = [];
  const xattrs: XattrMap = new Map();

  for await (const entry of extract) {
    opts.signal?.throwIfAborted();
    const h = entry.header as Header;
    stats.entries++;
    try {
      await applyEntry(h, entry as unknown as Readable, target, { chown, created, dirTimes, xattrs, stats, wantXattrs: opts.xattrs !== false });
    } catch (e) {
      entry.resume();
      extract.destroy();
      throw e;
    }
    entry.resume(); // drain whatever the entry type did not read
  }
  // Directory mtimes last, deepest first: creating children changed them.
  for (const d of dirTimes.reverse()) await utimes(d.path, d.mtime, d.mtime).catch(() => {});
  if (xattrs.size > 0) stats.xattrsSkipped += await writeXattrs(target, xattrs);
  return stats;
}

interface EntryContext {
  chown: boolean;
  created: Set<string>;
  dirTimes: { path: string; mtime: Date }[];
  xattrs: XattrMap;
  stats: ApplyStats;
  wantXattrs: boolean;
}

async function applyEntry(h: Header, body: Readable, root: string, ctx: EntryContext): Promise<void> {
  const parts = entryComponents(h.name);
  if (parts.length === 0) return; // the root itself ("./"): leave the target's own metadata alone
  const base = parts[parts.length - 1]!;
  const parentParts = await resolveInRoot(root, parts.slice(0, -1), h.name);
  const parentDir = join(root, ...parentParts);
  const parentKey = parentParts.join('/');

  if (base === OPAQUE_WHITEOUT) {
    ctx.stats.whiteouts++;
    let names: string[] = [];
    try {
      names = await readdir(parentDir);
    } catch {
      return;
    }
    for (const n of names) {
      const key = parentKey ? `${parentKey}/${n}` : n;
      if (!ctx.created.has(key)) await rm(join(parentDir, n), { recursive: true, force: true });
    }
    return;
  }
  if (base.startsWith(WHITEOUT_PREFIX)) {
    ctx.stats.whiteouts++;
    const victim = base.slice(WHITEOUT_PREFIX.length);
    if (victim === '' || victim === '.' || victim === '..') throw new LayerPathError(`invalid whiteout ${JSON.stringify(h.name)}`);
    await rm(join(parentDir, victim), { recursive: true, force: true });
    return;
  }

  await mkdir(parentDir, { recursive: true });
  const path = join(parentDir, base);
  const key = parentKey ? `${parentKey}/${base}` : base;
  const existing = await lstat(path).catch(() => undefined);
  const mode = (h.mode ?? 0o644) & 0o7777;
  const mtime = h.mtime ?? new Date(0);
  const pax = h.pax ?? {};
  const uid = pax.uid !== undefined ? Number(pax.uid) : (h.uid ?? 0);
  const gid = pax.gid !== undefined ? Number(pax.gid) : (h.gid ?? 0);

  if (h.type === 'directory') {
    if (existing && !existing.isDirectory()) await rm(path, { recursive: true, force: true });
    if (!existing || !existing.isDirectory()) await mkdir(path, { mode: 0o700 });
    ctx.stats.directories++;
  } else {
    if (existing) await rm(path, { recursive: true, force: true });
    switch (h.type) {
      case 'file':
      case 'contiguous-file':
      case undefined:
      case null: {
        // 'wx': O_EXCL never follows a symlink planted at the path.
        await pipeline(body, createWriteStream(path, { flags: 'wx', mode: 0o600, highWaterMark: 1 << 20 }));
        ctx.stats.files++;
        ctx.stats.bytes += h.size ?? 0;
        break;
      }
      case 'symlink':
        await symlink(h.linkname ?? '', path);
        ctx.stats.symlinks++;
        break;
      case 'link': {
        const linkParts = entryComponents(h.linkname ?? '');
        const linkParent = await resolveInRoot(root, linkParts.slice(0, -1), h.linkname ?? '');
        const from = join(root, ...linkParent, linkParts[linkParts.length - 1] ?? '');
        const st = await lstat(from).catch(() => undefined);
        if (!st) throw new LayerPathError(`hardlink ${JSON.stringify(h.name)} to missing ${JSON.stringify(h.linkname)}`);
        await link(from, path);
        ctx.stats.hardlinks++;
        ctx.created.add(key);
        return; // a hardlink shares its target's metadata
      }
      case 'character-device':
      case 'block-device':
        await run('mknod', ['-m', mode.toString(8), path, h.type === 'character-device' ? 'c' : 'b', String(h.devmajor ?? 0), String(h.devminor ?? 0)]);
        ctx.stats.devices++;
        break;
      case 'fifo':
        await run('mkfifo', ['-m', mode.toString(8), path]);
        ctx.stats.devices++;
        break;
      default:
        return; // other typeflags (GNU volume labels and the like) carry nothing to apply
    }
  }
  ctx.created.add(key);
  if (ctx.chown) await lchown(path, uid, gid);
  if (h.type !== 'symlink') await chmod(path, mode);
  if (h.type === 'directory') ctx.dirTimes.push({ path, mtime });
  else await (h.type === 'symlink' ? lutimes(path, mtime, mtime) : utimes(path, mtime, mtime));
  if (ctx.wantXattrs) {
    for (const [k, v] of Object.entries(pax)) {
      if (!k.startsWith('SCHILY.xattr.')) continue;
      let m = ctx.xattrs.get(key);
      if (!m) ctx.xattrs.set(key, (m = new Map()));
      m.set(k.slice(13), Buffer.from(v, 'utf8'));
    }
  }
}

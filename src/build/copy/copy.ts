import { createHash } from 'node:crypto';
import { chmod, copyFile, lchown, lstat, lutimes, mkdir, symlink, writeFile, stat } from 'node:fs/promises';
import { closeSync, constants, fchmodSync, fchownSync, futimesSync, lchownSync, linkSync, lstatSync, lutimesSync, openSync, readFileSync, symlinkSync, unlinkSync, writeSync } from 'node:fs';
import { posix } from 'node:path';
import pLimit from 'p-limit';
import { checksumEntries, cleanSource, listMatch, resolveSource, type SourceEntry, type SourceMatch, type SourceTree } from '../context/source-tree.js';
import { compileMatch } from '../context/match.js';
import { applyChmod, type ChmodSpec } from './chmod.js';
import { RootWriter } from './fs-ops.js';
import type { Owner } from './owner.js';

/** One source of a COPY/ADD: a path or glob in a tree, or inline content (a heredoc, a download). */
export type CopySource =
  | { type: 'tree'; tree: SourceTree; src: string }
  | { type: 'inline'; name: string; content: string; mode?: number }
  | { type: 'file'; name: string; path: string; mode: number };

export interface CopyRequest {
  sources: CopySource[];
  /** The destination as written after expansion; relative paths are relative to `workdir`. */
  dest: string;
  workdir: string;
  chown?: Owner;
  chmod?: ChmodSpec;
  /** `--exclude` patterns (Go globs; `**` crosses directories), relative to each source. */
  exclude?: string[];
  parents?: boolean;
  /** ADD: extract local tar archives. */
  unpack?: boolean;
}

interface PlannedItem {
  source: CopySource;
  match?: SourceMatch;
  /** Path below the destination for --parents (the match's path from the pivot). */
  parentsPath?: string;
  entries: SourceEntry[];
}

/** What a COPY will do, known before any container: resolved sources and their checksum. */
export interface CopyPlan {
  request: CopyRequest;
  items: PlannedItem[];
  /** sha256 over path, mode, owner, link targets and content of every input; never mtime. */
  checksum: string;
  /** Absolute in-root destination, with a trailing slash kept when it means "a directory". */
  dest: string;
}

export class CopyError extends Error {
  override name = 'CopyError';
}

/** Docker's `dest` rules: relative to WORKDIR; a trailing slash (or `.`) means a directory. */
export function resolveDest(dest: string, workdir: string): string {
  let d = dest === '' || dest === '.' ? './' : dest;
  const dirLike = d.endsWith('/') || d.endsWith('/.') || d === '.';
  d = posix.isAbsolute(d) ? posix.normalize(d) : posix.normalize(posix.join(workdir || '/', d));
  d = d.replace(/\/+$/, '');
  if (d === '') d = '/';
  return dirLike && d !== '/' ? `${d}/` : d;
}

function excludeMatcher(patterns: string[] | undefined): ((rel: string) => boolean) | undefined {
  if (!patterns || patterns.length === 0) return undefined;
  // `**` matches any number of directories, as in .dockerignore (patternmatcher).
  const res = patterns.map((p) => {
    const clean = posix.normalize(p).replace(/^\/+/, '').replace(/\/+$/, '');
    const parts = clean.split('/').map((seg) => (seg === '**' ? '(?:.*)' : compileMatch(seg).source.slice(1, -1)));
    return new RegExp(`^${parts.join('/').replace(/\(\?:\.\*\)\//g, '(?:.*/)?')}(?:/.*)?$`);
  });
  return (rel) => res.some((r) => r.test(rel));
}

/** Resolves every source, lists what will be copied and checksums it. Touches no destination. */
export async function planCopy(req: CopyRequest): Promise<CopyPlan> {
  const items: PlannedItem[] = [];
  const exclude = excludeMatcher(req.exclude);
  const lines: string[] = [];
  for (const source of req.sources) {
    if (source.type === 'inline') {
      lines.push(`inline ${JSON.stringify(source.name)} ${(source.mode ?? 0o644).toString(8)} ${createHash('sha256').update(source.content).digest('hex')}`);
      items.push({ source, entries: [] });
      continue;
    }
    if (source.type === 'file') {
      const st = await stat(source.path, { bigint: true });
      const { hashFile } = await import('../context/checksum-cache.js');
      lines.push(`file ${JSON.stringify(source.name)} ${source.mode.toString(8)} ${await hashFile(source.path)}`);
      items.push({ source, entries: [], match: { path: source.name, abs: source.path, isDir: false, stat: st } });
      continue;
    }
    let src = source.src;
    let pivot = '';
    if (req.parents) {
      const cut = src.indexOf('/./');
      if (cut >= 0) {
        pivot = cleanSource(src.slice(0, cut));
        src = `${src.slice(0, cut)}/${src.slice(cut + 3)}`;
      }
    }
    const matches = await resolveSource(source.tree, src);
    for (const m of matches) {
      if (exclude && exclude(m.path)) continue;
      const entries = await listMatch(source.tree, m, exclude ? (rel) => exclude(m.isDir ? (m.path ? `${m.path}/${rel}` : rel) : m.path) : undefined);
      const item: PlannedItem = { source, match: m, entries };
      if (req.parents) item.parentsPath = pivot && m.path.startsWith(`${pivot}/`) ? m.path.slice(pivot.length + 1) : pivot === m.path ? '' : m.path;
      items.push(item);
      lines.push(`match ${JSON.stringify(m.path)} ${m.isDir ? 'dir' : 'file'} ${item.parentsPath ?? ''}`);
      lines.push(...(await checksumEntries(source.tree, entries)));
    }
  }
  const dest = resolveDest(req.dest, req.workdir);
  const h = createHash('sha256');
  for (const l of lines) h.update(l).update('\n');
  if (req.chown) h.update(`chown ${req.chown.uid}:${req.chown.gid}\n`);
  if (req.chmod) h.update(`chmod ${JSON.stringify(req.chmod)}\n`);
  if (req.sources.length > 1 && !dest.endsWith('/')) {
    throw new CopyError('When using COPY with more than one source file, the destination must be a directory and end with a /');
  }
  return { request: req, items, checksum: `sha256:${h.digest('hex')}`, dest };
}

/** Files up to this size are copied with synchronous calls (see executeCopy). */
const SMALL_FILE = 256 * 1024;

/** RootWriter.clear(host, false), synchronously: removes a non-directory in the way. */
function clearSync(w: RootWriter, host: string): void {
  const st = lstatSync(host, { throwIfNoEntry: false });
  if (!st) return;
  if (st.isDirectory()) throw new Error(`cannot overwrite directory ${host.slice(w.rootfs.length) || '/'} with a non-directory`);
  unlinkSync(host);
}

/**
 * Copies a small file: its content read whole, the new file written and given owner, mode and time
 * through its descriptor. On the overlay every path lookup walks the lower layers, so one open
 * instead of copyFile's plus a lookup each for chown, chmod and utimes halves the cost per file.
 */
function copySmallFileSync(w: RootWriter, src: string, host: string, uid: number, gid: number, mode: number, mtime: Date): void {
  const content = readFileSync(src);
  let fd: number;
  try {
    fd = openSync(host, EXCLUSIVE_CREATE, 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    clearSync(w, host);
    fd = openSync(host, EXCLUSIVE_CREATE, 0o600);
  }
  try {
    for (let off = 0; off < content.length; ) off += writeSync(fd, content, off, content.length - off);
    fchownSync(fd, uid, gid);
    // After the chown, which clears set-id bits.
    fchmodSync(fd, mode);
    futimesSync(fd, mtime, mtime);
  } finally {
    closeSync(fd);
  }
}

/** O_EXCL|O_NOFOLLOW: never write through whatever already sits at the name (a symlink above all). */
const EXCLUSIVE_CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/**
 * Writes the plan into a mounted root filesystem (the step's overlay), so existing directories
 * and symlinks of the parent layers are honoured and the upper directory becomes the layer.
 */
export async function executeCopy(plan: CopyPlan, rootfs: string): Promise<void> {
  const req = plan.request;
  const w = new RootWriter(rootfs);
  const owner = req.chown ?? { uid: 0, gid: 0 };
  const destIsDirSpec = plan.dest.endsWith('/');
  const destPath = destIsDirSpec ? plan.dest.slice(0, -1) || '/' : plan.dest;
  const destHost = await w.hostDir(destPath);
  const destExistsAsDir = (await stat(destHost).catch(() => undefined))?.isDirectory() ?? false;
  const many = plan.items.length > 1;
  const dirTimes: { host: string; mtime: Date }[] = [];
  const modeOf = (mode: number, isDir: boolean) => (req.chmod ? applyChmod(req.chmod, mode, isDir) : mode);
  const hardlinks = new Map<string, string>(); // source dev:ino -> host path of its first copy

  const writeFileEntry = async (target: string, e: { abs: string; mode: number; uid: number; gid: number; mtime: Date }) => {
    await w.mkdirAll(posix.dirname(target), 0o755, owner);
    const host = await w.hostPath(target);
    await w.clear(host, false);
    await copyFile(e.abs, host);
    await lchown(host, req.chown ? owner.uid : e.uid, req.chown ? owner.gid : e.gid);
    await chmod(host, modeOf(e.mode, false));
    await lutimes(host, e.mtime, e.mtime);
  };

  for (const item of plan.items) {
    const s = item.source;
    if (s.type === 'inline') {
      const target = destIsDirSpec || destExistsAsDir ? posix.join(destPath, s.name) : destPath;
      await w.mkdirAll(posix.dirname(target), 0o755, owner);
      const host = await w.hostPath(target);
      await w.clear(host, false);
      await writeFile(host, s.content);
      await lchown(host, owner.uid, owner.gid);
      await chmod(host, modeOf(s.mode ?? 0o644, false));
      continue;
    }
    if (s.type === 'file') {
      const target = destIsDirSpec || destExistsAsDir || many ? posix.join(destPath, s.name) : destPath;
      await writeFileEntry(target, { abs: s.path, mode: s.mode, uid: 0, gid: 0, mtime: item.match!.stat.mtime });
      continue;
    }
    const m = item.match!;
    let base = destPath;
    if (item.parentsPath !== undefined) base = posix.join(destPath, m.isDir ? item.parentsPath : posix.dirname(item.parentsPath));
    if (!m.isDir) {
      const archive = req.unpack ? await (await import('./archive.js')).detectArchive(m.abs) : undefined;
      if (archive) {
        // tar-stream is loaded only when an archive is actually extracted.
        const [{ openTarStream }, { extractTar }] = await Promise.all([import('./archive.js'), import('./extract.js')]);
        await w.mkdirAll(base, 0o755, owner);
        await extractTar(openTarStream(m.abs, archive), w, base, { ...(req.chown ? { chown: owner } : {}), ...(req.chmod ? { chmod: req.chmod } : {}) });
        continue;
      }
      const e = item.entries[0]!;
      const intoDir = item.parentsPath !== undefined || destIsDirSpec || destExistsAsDir || many;
      const target = intoDir ? posix.join(base, posix.basename(m.path)) : base;
      await writeFileEntry(target, { abs: m.abs, mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.stat.mtime });
      continue;
    }
    // A directory: its contents land in the destination, which is created (0755) if missing.
    // Directories first, in order; then files and links, several at once (each is a few syscalls
    // on libuv's thread pool, so a context of many small files would otherwise be latency-bound).
    await w.mkdirAll(base, 0o755, owner);
    const leaves: SourceEntry[] = [];
    for (const e of item.entries) {
      if (e.rel === '') continue;
      if (e.kind !== 'dir') {
        leaves.push(e);
        continue;
      }
      const host = await w.hostPath(posix.join(base, e.rel));
      const st = await lstat(host).catch(() => undefined);
      if (st && !st.isDirectory()) await w.clear(host, false);
      if (!st?.isDirectory()) await mkdir(host);
      await lchown(host, req.chown ? owner.uid : e.uid, req.chown ? owner.gid : e.gid);
      await chmod(host, modeOf(e.mode, true));
      dirTimes.push({ host, mtime: e.stat.mtime });
    }
    // Small files and links synchronously, one after another: each is a handful of syscalls of a few
    // microseconds, and a thread-pool round trip per call cost more than the calls themselves.
    // Large files go through the pool, several at once, so their copying overlaps.
    const large: SourceEntry[] = [];
    // Hardlinked files stay hardlinked, as BuildKit copies them: the first name is copied, the
    // others are linked to it once every copy is done.
    const links: { host: string; first: string }[] = [];
    for (const e of leaves) {
      if (e.kind === 'file' && e.stat.nlink > 1n) {
        const key = `${e.stat.dev}:${e.stat.ino}`;
        const first = hardlinks.get(key);
        if (first !== undefined) {
          links.push({ host: await w.hostPath(posix.join(base, e.rel)), first });
          continue;
        }
        hardlinks.set(key, await w.hostPath(posix.join(base, e.rel)));
      }
      if (e.kind === 'file' && e.size > SMALL_FILE) {
        large.push(e);
        continue;
      }
      const host = await w.hostPath(posix.join(base, e.rel));
      const uid = req.chown ? owner.uid : e.uid;
      const gid = req.chown ? owner.gid : e.gid;
      if (e.kind === 'file') {
        copySmallFileSync(w, e.abs, host, uid, gid, modeOf(e.mode, false), e.stat.mtime);
      } else if (e.kind === 'symlink') {
        clearSync(w, host);
        symlinkSync(e.linkTarget ?? '', host);
        lchownSync(host, uid, gid);
        lutimesSync(host, e.stat.mtime, e.stat.mtime);
      }
    }
    const limit = pLimit(4);
    await Promise.all(
      large.map((e) =>
        limit(async () => {
          const host = await w.hostPath(posix.join(base, e.rel));
          await w.clear(host, false);
          await copyFile(e.abs, host);
          await lchown(host, req.chown ? owner.uid : e.uid, req.chown ? owner.gid : e.gid);
          await chmod(host, modeOf(e.mode, false));
          await lutimes(host, e.stat.mtime, e.stat.mtime);
        }),
      ),
    );
    for (const l of links) {
      clearSync(w, l.host);
      linkSync(l.first, l.host);
    }
  }
  // Directory times last: writing their children changed them.
  for (const d of dirTimes.reverse()) await lutimes(d.host, d.mtime, d.mtime);
}

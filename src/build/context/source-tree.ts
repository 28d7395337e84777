import { type BigIntStats, lstatSync, readlinkSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { type ChecksumCache, hashFile } from './checksum-cache.js';
import { compileMatch, containsWildcards } from './match.js';
import { resolveInRoot } from './scoped-path.js';

/** Which context paths .dockerignore removes. `canSkipDir` says no exception can re-include anything below. */
export interface IgnoreFilter {
  ignores(rel: string): boolean;
  canSkipDir?(rel: string): boolean;
}

/**
 * A tree that COPY reads from: the build context (with .dockerignore) or the root filesystem of a
 * stage or image (COPY --from). `owners: 'root'` makes every file 0:0 as the context's files are;
 * `'keep'` keeps the tree's own owners, as BuildKit does for --from sources.
 */
export interface SourceTree {
  root: string;
  ignore?: IgnoreFilter;
  owners: 'root' | 'keep';
  /** Content checksums by inode identity; without it files are hashed every time. */
  checksums?: ChecksumCache;
}

export type EntryKind = 'file' | 'dir' | 'symlink' | 'other';

/** One thing to copy, with its path relative to where the copy lands. */
export interface SourceEntry {
  abs: string;
  /** Relative to the copy destination ('' is the destination itself, for a directory source). */
  rel: string;
  kind: EntryKind;
  /** Permission bits with setuid/setgid/sticky (st_mode & 07777). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  linkTarget?: string;
  stat: BigIntStats;
}

/** A matched source: a file, or a directory whose contents are copied. */
export interface SourceMatch {
  /** In-tree path, e.g. `files/sub`. */
  path: string;
  abs: string;
  isDir: boolean;
  stat: BigIntStats;
}

export class SourceNotFoundError extends Error {
  override name = 'SourceNotFoundError';
}

/** Cleans a COPY source as BuildKit does: relative to the tree root, `..` can't escape. */
export function cleanSource(src: string): string {
  return posix.normalize(`/${src}`).replace(/^\/+/, '').replace(/\/+$/, '');
}

/**
 * Resolves one COPY source (a path or a Go-style glob) to the matches to copy. A literal path that
 * does not exist (or is ignored) is an error; a glob matching nothing is not, as in BuildKit.
 * The top-level match is followed if it is a symlink (inside the tree).
 */
export async function resolveSource(tree: SourceTree, src: string): Promise<SourceMatch[]> {
  const clean = cleanSource(src);
  const parts = clean === '' ? [] : clean.split('/');
  const firstWild = parts.findIndex((p) => containsWildcards(p));
  const paths: string[] = [];
  if (firstWild < 0) {
    paths.push(clean);
  } else {
    let bases = [parts.slice(0, firstWild).join('/')];
    for (let i = firstWild; i < parts.length; i++) {
      const part = parts[i]!;
      const next: string[] = [];
      for (const base of bases) {
        if (!containsWildcards(part)) {
          next.push(base ? `${base}/${part}` : part);
          continue;
        }
        const re = compileMatch(part);
        const dir = (await resolveInRoot(tree.root, base)).host;
        let names: string[];
        try {
          names = await readdir(dir);
        } catch {
          continue;
        }
        names.sort();
        for (const n of names) if (re.test(n)) next.push(base ? `${base}/${n}` : n);
      }
      bases = next;
    }
    paths.push(...bases);
  }
  const out: SourceMatch[] = [];
  for (const p of paths) {
    if (p !== '' && tree.ignore?.ignores(p)) {
      if (firstWild < 0) throw new SourceNotFoundError(`"/${p}": not found (excluded by .dockerignore)`);
      continue;
    }
    const { host } = await resolveInRoot(tree.root, p, true);
    let st: BigIntStats;
    try {
      st = await stat(host, { bigint: true });
    } catch {
      if (firstWild < 0) throw new SourceNotFoundError(`"/${p}": not found`);
      continue;
    }
    out.push({ path: p, abs: host, isDir: st.isDirectory(), stat: st });
  }
  return out;
}

function kindOf(st: BigIntStats): EntryKind {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  return 'other';
}

function entryOf(tree: SourceTree, abs: string, rel: string, st: BigIntStats, linkTarget?: string): SourceEntry {
  const keep = tree.owners === 'keep';
  return {
    abs,
    rel,
    kind: kindOf(st),
    mode: Number(st.mode & 0o7777n),
    uid: keep ? Number(st.uid) : 0,
    gid: keep ? Number(st.gid) : 0,
    size: Number(st.size),
    ...(linkTarget !== undefined ? { linkTarget } : {}),
    stat: st,
  };
}

/**
 * Lists everything a match copies, sorted by path: a file is one entry (rel = its base name unless
 * `rel` is given); a directory gives its contents (rel relative to it), recursively, honouring the
 * ignore filter (relative to the tree root) and `exclude` (relative to the match).
 */
export async function listMatch(tree: SourceTree, m: SourceMatch, exclude?: (rel: string) => boolean): Promise<SourceEntry[]> {
  if (!m.isDir) return [entryOf(tree, m.abs, posix.basename(m.path) || 'file', m.stat)];
  const out: SourceEntry[] = [entryOf(tree, m.abs, '', m.stat)];
  const walk = async (absDir: string, treeRel: string, rel: string): Promise<void> => {
    const names = await readdir(absDir);
    names.sort();
    for (const name of names) {
      const tRel = treeRel ? `${treeRel}/${name}` : name;
      const r = rel ? `${rel}/${name}` : name;
      const abs = join(absDir, name);
      // Synchronous: microseconds per entry, where a thread-pool round trip each cost more than the call.
      const st = lstatSync(abs, { bigint: true });
      if (exclude?.(r)) continue;
      if (tree.ignore?.ignores(tRel)) {
        // A directory is skipped whole only when no `!` rule can re-include something below it.
        if (st.isDirectory() && tree.ignore.canSkipDir && !tree.ignore.canSkipDir(tRel)) await walkIgnoredDir(abs, tRel, r);
        continue;
      }
      out.push(entryOf(tree, abs, r, st, st.isSymbolicLink() ? readlinkSync(abs) : undefined));
      if (st.isDirectory()) await walk(abs, tRel, r);
    }
  };
  // Inside an ignored directory that may hold re-included paths: keep only those, with their parents.
  const walkIgnoredDir = async (absDir: string, treeRel: string, rel: string): Promise<void> => {
    const start = out.length;
    await walk(absDir, treeRel, rel);
    if (out.length > start) {
      const st = lstatSync(absDir, { bigint: true });
      out.splice(start, 0, entryOf(tree, absDir, rel, st));
    }
  };
  await walk(m.abs, m.path, '');
  return out;
}

/** Fills in content checksums and returns one canonical line per entry, for cache keys. */
export async function checksumEntries(tree: SourceTree, entries: SourceEntry[]): Promise<string[]> {
  const lines: string[] = [];
  for (const e of entries) {
    let content = '';
    if (e.kind === 'file') content = tree.checksums ? await tree.checksums.checksum(e.abs, e.stat) : await hashFile(e.abs);
    else if (e.kind === 'symlink') content = e.linkTarget ?? '';
    else if (e.kind === 'other') content = `${e.stat.mode & 0o170000n}:${e.stat.rdev}`;
    lines.push(`${JSON.stringify(e.rel)} ${e.kind} ${e.mode.toString(8)} ${e.uid}:${e.gid} ${content}`);
  }
  return lines;
}

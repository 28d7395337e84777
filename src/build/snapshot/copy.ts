import type { BigIntStats } from 'node:fs';
import { chmod, lchown, mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { SnapshotError } from './errors.js';
import { makeWhiteouts, opaqueDirs, removeOpaque, setOpaque, setTimes } from './fs-ops.js';
import { firstLine, runTool } from './run-tool.js';
import type { ActiveSnapshot, PrepareOptions, Snapshotter } from './snapshotter.js';
import { isWhiteout, lstatOrUndefined, sameMetadata, walkTree } from './tree.js';
import { ActiveSnapshotBase } from './active-snapshot-base.js';

export interface CopySnapshotterOptions {
  /** Where working dirs are made: on the same filesystem as the snapshots. */
  workRoot: string;
}

/**
 * For hosts where overlayfs cannot be mounted: the lowers are copied (whiteouts and opaque dirs
 * applied) into a plain directory, and at release the tree is compared with what was copied to write
 * the same overlay-style upper dir the kernel would have, so the layer writer has one code path.
 *
 * Change detection: a non-directory changed if its inode, birth time or ctime changed (every write,
 * chmod, chown or utimes bumps ctime, and nothing can set it back); a directory if it was replaced
 * (new inode or birth time: opaque in the upper, like overlay's mkdir over a whiteout), its
 * mode/owner/mtime changed, or something below it changed.
 */
export class CopySnapshotter implements Snapshotter {
  readonly kind = 'copy' as const;
  private readonly workRoot: string;

  constructor(opts: CopySnapshotterOptions) {
    this.workRoot = resolve(opts.workRoot);
  }

  async prepare(parents: readonly string[], opts: PrepareOptions = {}): Promise<ActiveSnapshot> {
    for (const p of parents) if (!isAbsolute(p)) throw new SnapshotError(`snapshot parent must be an absolute path: ${p}`);
    await mkdir(this.workRoot, { recursive: true });
    const label = (opts.label ?? 'copy').replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 40) || 'copy';
    const dir = await mkdtemp(join(this.workRoot, `${label}-`));
    const rootfs = join(dir, 'rootfs');
    const upper = join(dir, 'upper');
    try {
      await mkdir(rootfs);
      await mkdir(upper);
      for (const lower of [...parents].reverse()) await applyLower(lower, rootfs);
      const base = new Map<string, BigIntStats>();
      const children = new Map<string, Set<string>>([['', new Set()]]);
      for (const e of await walkTree(rootfs)) {
        base.set(e.rel, e.st);
        children.get(parentRel(e.rel))!.add(baseName(e.rel));
        if (e.st.isDirectory()) children.set(e.rel, new Set());
      }
      return new CopySnapshot(dir, rootfs, upper, [...parents], base, children);
    } catch (e) {
      await rm(dir, { recursive: true, force: true });
      throw e;
    }
  }
}

function parentRel(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i < 0 ? '' : rel.slice(0, i);
}

function baseName(rel: string): string {
  return rel.slice(rel.lastIndexOf('/') + 1);
}

/** Applies one overlay-format lower onto a plain tree, as overlayfs would show it stacked on top. */
async function applyLower(lower: string, rootfs: string): Promise<void> {
  const entries = await walkTree(lower);
  const dirs = entries.filter((e) => e.st.isDirectory());
  const opaque = await opaqueDirs(dirs.map((e) => join(lower, e.rel)));
  const whiteouts: string[] = [];
  for (const e of entries) {
    const target = join(rootfs, e.rel);
    if (isWhiteout(e.st)) {
      whiteouts.push(target);
      await rm(target, { recursive: true, force: true });
      continue;
    }
    const cur = await lstatOrUndefined(target);
    if (!cur) continue;
    // Only a directory merges with a directory; anything else replaces what was there.
    if (e.st.isDirectory() ? !cur.isDirectory() || opaque.has(join(lower, e.rel)) : cur.isDirectory()) {
      await rm(target, { recursive: true, force: true });
    }
  }
  if (entries.length > 0) {
    // cp -a keeps owners, modes, times, xattrs (file capabilities), hard links and special files.
    const r = await runTool('cp', ['-a', '--remove-destination', `${lower}/.`, `${rootfs}/`]);
    if (r.code !== 0) throw new SnapshotError(`copying layer ${lower} failed: ${firstLine(r.stderr)}`);
  }
  // The markers themselves are not content.
  await Promise.all(whiteouts.map((w) => rm(w, { force: true })));
  const copiedOpaque = [...opaque].map((p) => join(rootfs, p.slice(lower.length + 1)));
  if (copiedOpaque.length > 0) await removeOpaque(copiedOpaque);
}

class CopySnapshot extends ActiveSnapshotBase {
  constructor(
    dir: string,
    rootfs: string,
    upperdir: string,
    lowers: readonly string[],
    private readonly base: Map<string, BigIntStats>,
    private readonly children: Map<string, Set<string>>,
  ) {
    super(dir, rootfs, upperdir, lowers);
  }

  protected async doRelease(): Promise<void> {
    await this.writeDiff();
    await rm(this.rootfs, { recursive: true, force: true });
  }

  /** Compares the tree with what was copied and writes the overlay-style diff into the upper dir. */
  private async writeDiff(): Promise<void> {
    const moves: string[] = [];
    const opaque: string[] = [];
    const whiteouts: string[] = [];
    const dirs: { rel: string; st: BigIntStats }[] = [];

    const visit = async (rel: string): Promise<boolean> => {
      let changed = false;
      const names = new Set(await readdir(rel ? join(this.rootfs, rel) : this.rootfs));
      for (const gone of this.children.get(rel) ?? []) {
        if (!names.has(gone)) {
          whiteouts.push(rel ? `${rel}/${gone}` : gone);
          changed = true;
        }
      }
      for (const name of [...names].sort()) {
        const r = rel ? `${rel}/${name}` : name;
        const st = (await lstatOrUndefined(join(this.rootfs, r)))!;
        const was = this.base.get(r);
        // Inode numbers are reused at once after a delete, so a re-created entry is told by its birth time.
        const sameKind =
          was && (was.mode & 0o170000n) === (st.mode & 0o170000n) && was.ino === st.ino && was.birthtimeNs === st.birthtimeNs;
        if (!sameKind) {
          // New, or replaced: the whole entry (a dir with all it holds) is in the diff.
          moves.push(r);
          if (was && st.isDirectory()) opaque.push(r);
          changed = true;
        } else if (st.isDirectory()) {
          const below = await visit(r);
          if (below || !sameMetadata(st, was)) {
            dirs.push({ rel: r, st });
            changed = true;
          }
        } else if (st.ctimeNs !== was.ctimeNs) {
          moves.push(r);
          changed = true;
        }
      }
      return changed;
    };
    await visit('');

    // Directories that only hold changes are recreated with their metadata; the rest is moved whole.
    const sortedDirs = [...dirs].sort((a, b) => a.rel.localeCompare(b.rel));
    for (const d of sortedDirs) {
      const target = join(this.upperdir, d.rel);
      await mkdir(target);
      await lchown(target, Number(d.st.uid), Number(d.st.gid));
      await chmod(target, Number(d.st.mode & 0o7777n));
    }
    for (const m of moves) await rename(join(this.rootfs, m), join(this.upperdir, m));
    await makeWhiteouts(whiteouts.map((w) => join(this.upperdir, w)));
    await setOpaque(opaque.map((o) => join(this.upperdir, o)));
    // Times last (deepest first): creating entries in a dir changes its mtime.
    await setTimes(sortedDirs.reverse().map((d) => ({ path: join(this.upperdir, d.rel), mtimeNs: d.st.mtimeNs })));
  }
}

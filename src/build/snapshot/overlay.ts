import { mkdir, mkdtemp, readdir, rm, rmdir, symlink } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { inUserNamespace } from '../../rootless/namespace.js';
import { SnapshotError } from './errors.js';
import { opaqueDirs } from './fs-ops.js';
import { firstLine, runTool } from './run-tool.js';
import type { ActiveSnapshot, PrepareOptions, Snapshotter } from './snapshotter.js';
import { isWhiteout, lstatOrUndefined, sameMetadata, walkTree } from './tree.js';
import { ActiveSnapshotBase } from './active-snapshot-base.js';
import { MNT_DETACH, nativeSyscalls, type Syscalls } from '../../native/syscalls.js';

/** The kernel copies mount options into one page. */
const MAX_OPTIONS = 4095;

const VOLATILE = ',volatile';

/** The kernel's limit on stacked lower layers (OVL_MAX_STACK). */
export const MAX_OVERLAY_LOWERS = 500;

/**
 * Overlay options every mount gets. `index`, `redirect_dir` and `metacopy` off keep the upper dir a
 * plain, self-contained diff (no redirect xattrs, no metadata-only copy-ups without data) that the
 * layer writer can read as is and that is valid as a lower of later mounts. `volatile` skips the
 * syncfs of the whole host filesystem at unmount: a step's upper dir is rebuilt if the machine crashes.
 */
function baseOptions(): string {
  return inUserNamespace()
    ? // Rootless: `userxattr` (kernel 5.11+) keeps overlay's marks in user.* xattrs and implies no redirects.
      'index=off,metacopy=off,userxattr'
    : 'index=off,redirect_dir=off,metacopy=off';
}

export interface OverlaySnapshotterOptions {
  /** Where working dirs (upper, work, merged) are made: on the same filesystem as the snapshots. */
  workRoot: string;
}

/**
 * Kernel overlayfs, mounted in-process by the native module when the lower dirs' paths fit in the
 * option string (capped by the kernel at one page). Otherwise the lower paths are given as
 * one-character-ish names of symlinks in a per-mount directory, and mount(8) runs with that directory
 * as its cwd, so the option string stays short however long the snapshot paths are:
 * `lowerdir=0:1:2:...` fits the kernel's 500-layer maximum easily.
 */
export class OverlaySnapshotter implements Snapshotter {
  readonly kind = 'overlay' as const;
  private readonly workRoot: string;
  private volatileOk = true;

  constructor(opts: OverlaySnapshotterOptions) {
    this.workRoot = resolve(opts.workRoot);
    if (/[,:]/.test(this.workRoot)) throw new SnapshotError(`snapshot work dir ${this.workRoot} must not contain "," or ":"`);
  }

  async prepare(parents: readonly string[], opts: PrepareOptions = {}): Promise<ActiveSnapshot> {
    if (parents.length > MAX_OVERLAY_LOWERS) {
      throw new SnapshotError(`too many layers for overlayfs: ${parents.length} (the kernel stacks at most ${MAX_OVERLAY_LOWERS})`);
    }
    for (const p of parents) if (!isAbsolute(p)) throw new SnapshotError(`snapshot parent must be an absolute path: ${p}`);
    await mkdir(this.workRoot, { recursive: true });
    const dir = await mkdtemp(join(this.workRoot, `${safeLabel(opts.label)}-`));
    const upper = join(dir, 'upper');
    const work = join(dir, 'work');
    const merged = join(dir, 'merged');
    const links = join(dir, 'l');
    try {
      await Promise.all([mkdir(upper), mkdir(work), mkdir(merged)]);
      // overlayfs needs at least one lower: scratch gets an empty one.
      // Identical layers (two RUNs that changed nothing share one content-addressed snapshot) would
      // repeat a lowerdir, which overlayfs refuses; the top-most copy alone stacks the same tree.
      const lowers = parents.length > 0 ? [...new Set(parents)] : [join(dir, 'empty')];
      if (parents.length === 0) await mkdir(lowers[0]!);
      const tail = `upperdir=${upper},workdir=${work},${baseOptions()}`;
      const direct = `lowerdir=${lowers.join(':')},${tail}`;
      const native = nativeSyscalls();
      if (native && direct.length + VOLATILE.length < MAX_OPTIONS) this.mountNative(native, direct, merged);
      else {
        await mkdir(links);
        await Promise.all(lowers.map((p, i) => symlink(p, join(links, i.toString(36)))));
        await this.mount(`lowerdir=${lowers.map((_, i) => i.toString(36)).join(':')},${tail}`, merged, links);
      }
    } catch (e) {
      await rm(dir, { recursive: true, force: true });
      throw e;
    }
    return new OverlaySnapshot(dir, merged, upper, [...parents]);
  }

  /** In-process, with the lower dirs' full paths (the option string fits in the kernel's page). */
  private mountNative(native: Syscalls, options: string, target: string): void {
    if (this.volatileOk) {
      try {
        native.mount('overlay', target, 'overlay', 0, `${options}${VOLATILE}`);
        return;
      } catch {
        // Kernels before 5.10 do not know `volatile`; anything else fails the same way without it.
        this.volatileOk = false;
      }
    }
    try {
      native.mount('overlay', target, 'overlay', 0, options);
    } catch (e) {
      throw new SnapshotError(`overlay mount failed: ${(e as Error).message}`);
    }
  }

  /** Through mount(8), run in `cwd`, where the lower dirs are short relative symlinks. */
  private async mount(options: string, target: string, cwd: string): Promise<void> {
    if (this.volatileOk) {
      const r = await runTool('mount', ['-t', 'overlay', 'overlay', '-o', `${options}${VOLATILE}`, target], { cwd });
      if (r.code === 0) return;
      // Kernels before 5.10 do not know `volatile`; anything else fails the same way without it.
      this.volatileOk = false;
    }
    const r = await runTool('mount', ['-t', 'overlay', 'overlay', '-o', options, target], { cwd });
    if (r.code !== 0) throw new SnapshotError(`overlay mount failed: ${firstLine(r.stderr) || `mount exited ${r.code}`}`);
  }
}

function safeLabel(label: string | undefined): string {
  return (label ?? 'snap').replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 40) || 'snap';
}

class OverlaySnapshot extends ActiveSnapshotBase {
  protected async doRelease(): Promise<void> {
    await unmount(this.rootfs);
    await Promise.all(
      ['work', 'merged', 'l', 'empty'].map((d) => rm(join(this.dir, d), { recursive: true, force: true })),
    );
    await pruneCopiedUpDirs(this.upperdir, this.lowers);
  }
}

/** Unmounts an overlay; tolerates "not mounted". Lazy detach as a last resort so nothing stays busy. */
export async function unmount(target: string): Promise<void> {
  const native = nativeSyscalls();
  if (native) {
    try {
      native.umount(target, 0);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // EINVAL: not a mount point; ENOENT: gone already.
      if (code === 'EINVAL' || code === 'ENOENT') return;
      try {
        native.umount(target, MNT_DETACH);
        return;
      } catch {
        throw new SnapshotError(`cannot unmount ${target}: ${(e as Error).message}`);
      }
    }
  }
  const r = await runTool('umount', [target]);
  if (r.code === 0) return;
  if (/not mounted|no mount point|not found/i.test(r.stderr)) return;
  const lazy = await runTool('umount', ['-l', target]);
  if (lazy.code !== 0) throw new SnapshotError(`cannot unmount ${target}: ${firstLine(r.stderr)}`);
}

/**
 * Removes directories that are in the upper dir only because overlay copied them up on the way to a
 * change that was later undone (typically a mount-point stub the runtime created and the runner
 * removed): empty, not opaque, and with the same mode, owner and mtime as the directory they cover.
 * They carry no information, and leaving them would put spurious entries in the layer.
 */
export async function pruneCopiedUpDirs(upperdir: string, lowers: readonly string[]): Promise<void> {
  const entries = await walkTree(upperdir);
  // Only empty directories can be pruned (and their parents, once emptied): find those first, so
  // the usual step (files added, no leftover stubs) costs one walk and no xattr lookup at all.
  const hasChild = new Set<string>();
  for (const e of entries) {
    const slash = e.rel.lastIndexOf('/');
    if (slash > 0) hasChild.add(e.rel.slice(0, slash));
  }
  const dirs = entries.filter((e) => e.st.isDirectory());
  if (!dirs.some((e) => !hasChild.has(e.rel))) return;
  const opaque = await opaqueDirs(dirs.map((e) => join(upperdir, e.rel)));
  const opaqueRel = dirs.filter((e) => opaque.has(join(upperdir, e.rel))).map((e) => e.rel);
  const underOpaque = (rel: string) => opaqueRel.some((o) => rel === o || rel.startsWith(`${o}/`));
  // Deepest first, so a chain of now-empty parents goes too.
  for (const e of [...dirs].reverse()) {
    if (underOpaque(e.rel)) continue;
    const full = join(upperdir, e.rel);
    if ((await readdir(full)).length > 0) continue;
    const visible = await visibleLower(lowers, e.rel);
    if (visible?.isDirectory() && sameMetadata(visible, e.st)) await rmdir(full);
  }
}

/** The lower entry visible at `rel` through the stack, honouring whiteouts and opaque dirs above it. */
async function visibleLower(lowers: readonly string[], rel: string) {
  const parts = rel.split('/');
  for (const lower of lowers) {
    const st = await lstatOrUndefined(join(lower, rel));
    if (st) return isWhiteout(st) ? undefined : st;
    // Absent here: does this layer hide everything below at some ancestor (whiteout, file or opaque dir)?
    const ancestors: string[] = [];
    for (let i = 1; i < parts.length; i++) {
      const a = join(lower, ...parts.slice(0, i));
      const ast = await lstatOrUndefined(a);
      if (!ast) break;
      if (!ast.isDirectory()) return undefined;
      ancestors.push(a);
    }
    if (ancestors.length > 0 && (await opaqueDirs(ancestors)).size > 0) return undefined;
  }
  return undefined;
}

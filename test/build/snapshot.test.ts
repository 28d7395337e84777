import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runContainer } from '../../src/build/runtime/runner.js';
import { CopySnapshotter } from '../../src/build/snapshot/copy.js';
import { detectSnapshotter, probeSnapshotter } from '../../src/build/snapshot/detect.js';
import { makeWhiteouts, opaqueDirs, setTimes } from '../../src/build/snapshot/fs-ops.js';
import { commitSnapshot, ensureUnpacked, type LayerSource, snapshotDir, snapshotsRoot, snapshotWorkRoot } from '../../src/build/snapshot/layer-cache.js';
import { OverlaySnapshotter } from '../../src/build/snapshot/overlay.js';
import type { ActiveSnapshot, Snapshotter } from '../../src/build/snapshot/snapshotter.js';
import { walkTree } from '../../src/build/snapshot/tree.js';
import type { Digest } from '../../src/image/digest.js';
import { makeBusyboxImage, mountsUnder } from './runtime-fixtures.js';

let root: string;
let base: string;
const active: ActiveSnapshot[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'tsbuild-snap-'));
  const image = await makeBusyboxImage();
  base = await ensureUnpacked(image.source(root), image.layer);
  await image.cleanup();
});

afterAll(async () => {
  for (const s of active) await s.discard();
  if (root) await rm(root, { recursive: true, force: true });
  expect(mountsUnder(root ?? '/nonexistent')).toEqual([]);
});

/** A comparable listing of an overlay-style tree: types, modes, owners, contents, whiteouts, opaque marks. */
async function describeTree(dir: string): Promise<string[]> {
  const entries = await walkTree(dir);
  const opaque = await opaqueDirs(entries.filter((e) => e.st.isDirectory()).map((e) => join(dir, e.rel)));
  const out: string[] = [];
  for (const e of entries) {
    const mode = (e.st.mode & 0o7777n).toString(8);
    const own = `${e.st.uid}:${e.st.gid}`;
    if (e.st.isDirectory()) out.push(`d ${e.rel} ${mode} ${own}${opaque.has(join(dir, e.rel)) ? ' opaque' : ''}`);
    else if (e.st.isCharacterDevice() && e.st.rdev === 0n) out.push(`whiteout ${e.rel}`);
    else if (e.st.isSymbolicLink()) out.push(`l ${e.rel} -> ${await readlink(join(dir, e.rel))}`);
    else if (e.st.isFile()) {
      const sum = createHash('sha256').update(await readFile(join(dir, e.rel))).digest('hex').slice(0, 12);
      out.push(`f ${e.rel} ${mode} ${own} ${sum} ${e.st.mtimeMs > 0 ? 'mtime' : 'mtime0'}`);
    } else out.push(`? ${e.rel}`);
  }
  return out;
}

async function runIn(snapshotter: Snapshotter, parents: string[], script: string): Promise<ActiveSnapshot> {
  const snap = await snapshotter.prepare(parents, { label: snapshotter.kind });
  active.push(snap);
  const out = new PassThrough();
  let text = '';
  out.setEncoding('utf8').on('data', (d: string) => (text += d));
  const r = await runContainer({ rootfs: snap.rootfs, args: ['/bin/sh', '-euc', script], stdout: out, stderr: out });
  expect({ exitCode: r.exitCode, text }).toEqual({ exitCode: 0, text: '' });
  await snap.release();
  return snap;
}

const SCRIPT = [
  'touch /new',
  'rm /bin/ls',
  'mkdir -p /a/b && echo deep > /a/b/c && chmod 640 /a/b/c',
  'echo "extra:x:1000:1000::/home/extra:/bin/sh" >> /etc/passwd',
  'chmod 700 /tmp',
  'rm -rf /home && mkdir /home && echo h > /home/file',
  'rm /bin/cat && mkdir /bin/cat',
  'rm -rf /var && echo file-now > /var',
  'ln -s /a/b/c /link',
  'chown 33:33 /new',
].join('; ');

describe('snapshots', () => {
  it('detects overlayfs on this machine', async () => {
    const s = await detectSnapshotter(snapshotWorkRoot(root), {});
    expect(s.kind).toBe('overlay');
    expect((await detectSnapshotter(snapshotWorkRoot(root), { TSBUILD_SNAPSHOTTER: 'copy' })).kind).toBe('copy');
  });

  it('remembers a successful overlay probe in the work root, keyed by kernel, user and filesystem', async () => {
    const work = join(root, 'probe-work');
    expect((await probeSnapshotter(work)).kind).toBe('overlay');
    const key = await readFile(join(work, '.overlay-ok'), 'utf8');
    expect(key).toMatch(/^kernel=\S+ uid=0 userns=(true|false) dev=\d+ spread=1\n$/);
    // The work root spreads its subdirectories over the filesystem (where the flag exists).
    const attrs = spawnSync('lsattr', ['-d', work], { encoding: 'utf8' });
    if (attrs.status === 0) expect(attrs.stdout.split(' ')[0]).toContain('T');
    else console.log(`not checking the top-dir flag: lsattr -d failed here (${attrs.stderr.trim()})`);
    // A marker for other conditions is not trusted: the probe runs again and rewrites it.
    await writeFile(join(work, '.overlay-ok'), 'kernel=0.0 uid=0 userns=false dev=1\n');
    expect((await probeSnapshotter(work)).kind).toBe('overlay');
    expect(await readFile(join(work, '.overlay-ok'), 'utf8')).toBe(key);
    // With the marker in place nothing is mounted to find out, and nothing is left behind.
    expect((await probeSnapshotter(work)).kind).toBe('overlay');
    expect((await readdir(work)).sort()).toEqual(['.overlay-ok']);
    expect(mountsUnder(work)).toEqual([]);
  });

  it('setTimes sets exact times: whole seconds in-process, fractions and pre-1970 times through perl', async () => {
    const dir = await mkdtemp(join(root, 'times-'));
    const paths = ['a', 'b', 'c'].map((n) => join(dir, n));
    for (const p of paths) await writeFile(p, p);
    await symlink('a', join(dir, 'link'));
    const want = [1_700_000_000_000_000_000n, 1_700_000_000_123_456_789n, -86_400_000_000_000n, 1_600_000_000_000_000_000n];
    await setTimes([...paths, join(dir, 'link')].map((path, i) => ({ path, mtimeNs: want[i]! })));
    const got = await Promise.all([...paths, join(dir, 'link')].map(async (p) => (await lstat(p, { bigint: true })).mtimeNs));
    expect(got).toEqual(want);
    // The symlink itself got its time, not its target.
    expect((await lstat(paths[0]!, { bigint: true })).mtimeNs).toBe(want[0]);
  });

  it('unpacks a layer once, into a content-addressed dir, and refuses a wrong diffId', async () => {
    const image = await makeBusyboxImage();
    try {
      const again = await Promise.all([ensureUnpacked(image.source(root), image.layer), ensureUnpacked(image.source(root), image.layer)]);
      expect(again).toEqual([base, base]);
      expect(base).toBe(snapshotDir(root, image.layer.diffId));
      expect((await lstat(join(base, 'bin', 'busybox'))).mode & 0o777).toBe(0o755);
      expect(await readlink(join(base, 'bin', 'ls'))).toBe('/bin/busybox');
      const wrong = { ...image.layer, diffId: `sha256:${'0'.repeat(64)}` as Digest };
      await expect(ensureUnpacked(image.source(root), wrong)).rejects.toThrow(/has diffId sha256:[0-9a-f]{64}, expected sha256:0{64}/);
      expect((await readdir(snapshotsRoot(root))).filter((n) => n.startsWith('tmp-'))).toEqual([]);
    } finally {
      await image.cleanup();
    }
  });

  it('turns OCI whiteouts in a layer into overlay whiteouts and opaque dirs', async () => {
    const src = await mkdtemp(join(tmpdir(), 'tsbuild-wh-'));
    try {
      await mkdir(join(src, 'etc'));
      await writeFile(join(src, 'etc', '.wh.passwd'), '');
      await mkdir(join(src, 'home'));
      await writeFile(join(src, 'home', '.wh..wh..opq'), '');
      await writeFile(join(src, 'home', 'kept'), 'k');
      const tarPath = join(src, 'layer.tar');
      execFileSync('tar', ['-C', src, '--numeric-owner', '-cf', tarPath, 'etc', 'home']);
      const tarBytes = await readFile(tarPath);
      const diffId = `sha256:${createHash('sha256').update(tarBytes).digest('hex')}` as Digest;
      const source: LayerSource = { root, blobs: { open: () => createReadStream(tarPath) } };
      const dir = await ensureUnpacked(source, { diffId, descriptor: { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: diffId, size: tarBytes.length } });
      expect(await describeTree(dir)).toEqual(['d etc 755 0:0', 'whiteout etc/passwd', 'd home 755 0:0 opaque', `f home/kept 644 0:0 ${createHash('sha256').update('k').digest('hex').slice(0, 12)} mtime`]);
      // Stacked on busybox, the layer hides /etc/passwd and what /home held.
      const snap = await new OverlaySnapshotter({ workRoot: snapshotWorkRoot(root) }).prepare([dir, base]);
      active.push(snap);
      await expect(lstat(join(snap.rootfs, 'etc', 'passwd'))).rejects.toThrow(/ENOENT/);
      expect(await readdir(join(snap.rootfs, 'etc'))).toEqual(['group']);
      expect(await readdir(join(snap.rootfs, 'home'))).toEqual(['kept']);
      await snap.discard();
    } finally {
      await rm(src, { recursive: true, force: true });
    }
  });

  it('unpacks a layer padded past its end marker, where tar stops reading, and checks the diffId over all of it', async () => {
    const src = await mkdtemp(join(tmpdir(), 'tsbuild-pad-'));
    try {
      await writeFile(join(src, 'a'), 'a\n');
      const tarPath = join(src, 'layer.tar');
      execFileSync('tar', ['-C', src, '--numeric-owner', '-cf', tarPath, 'a']);
      // Zeros beyond a pipe's buffer: tar exits at the end marker long before they are written.
      const padded = Buffer.concat([await readFile(tarPath), Buffer.alloc(4 << 20)]);
      await writeFile(tarPath, padded);
      const diffId = `sha256:${createHash('sha256').update(padded).digest('hex')}` as Digest;
      const source: LayerSource = { root, blobs: { open: () => createReadStream(tarPath) } };
      const layer = { diffId, descriptor: { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: diffId, size: padded.length } };
      const dir = await ensureUnpacked(source, layer);
      expect(await readFile(join(dir, 'a'), 'utf8')).toBe('a\n');
      // The same bytes but one, past the end marker, into another store: tar is happy, the
      // diffId check is not.
      padded[padded.length - 1] = 1;
      await writeFile(tarPath, padded);
      const other: LayerSource = { root: join(src, 'store'), blobs: source.blobs };
      await expect(ensureUnpacked(other, layer)).rejects.toThrow(/has diffId sha256:/);
    } finally {
      await rm(src, { recursive: true, force: true });
    }
  });

  it('the copy snapshotter gives the same diff as overlay for the same commands', async () => {
    const work = snapshotWorkRoot(root);
    const overlay = await runIn(new OverlaySnapshotter({ workRoot: work }), [base], SCRIPT);
    const copy = await runIn(new CopySnapshotter({ workRoot: work }), [base], SCRIPT);
    const expected = await describeTree(overlay.upperdir);
    expect(expected).toContain('whiteout bin/ls');
    expect(expected).toContain('d home 755 0:0 opaque');
    expect(expected).toContain('d bin/cat 755 0:0 opaque');
    expect(expected).toContain('l link -> /a/b/c');
    expect(expected.some((l) => l.startsWith('f var 644'))).toBe(true);
    expect(expected.some((l) => l.startsWith('f new 644 33:33'))).toBe(true);
    expect(expected.filter((l) => /resolv|hosts|^d (proc|sys|dev)/.test(l))).toEqual([]);
    expect(await describeTree(copy.upperdir)).toEqual(expected);
  });

  it('a committed upper dir is the next step\'s lower, without extraction; copy snapshotter stacks it too', async () => {
    const work = snapshotWorkRoot(root);
    const step1 = await runIn(new OverlaySnapshotter({ workRoot: work }), [base], SCRIPT);
    const diffId = `sha256:${'ab'.repeat(32)}` as Digest;
    const committed = await commitSnapshot(root, step1.upperdir, diffId);
    expect(committed).toBe(snapshotDir(root, diffId));
    await expect(lstat(step1.upperdir)).rejects.toThrow(/ENOENT/);
    for (const s of [new OverlaySnapshotter({ workRoot: work }), new CopySnapshotter({ workRoot: work })] as Snapshotter[]) {
      const snap = await s.prepare([committed, base]);
      active.push(snap);
      await expect(lstat(join(snap.rootfs, 'bin', 'ls'))).rejects.toThrow(/ENOENT/);
      expect(await readFile(join(snap.rootfs, 'a', 'b', 'c'), 'utf8')).toBe('deep\n');
      expect(await readdir(join(snap.rootfs, 'home'))).toEqual(['file']);
      expect((await lstat(join(snap.rootfs, 'bin', 'cat'))).isDirectory()).toBe(true);
      expect(await readFile(join(snap.rootfs, 'var'), 'utf8')).toBe('file-now\n');
      await snap.discard();
      await expect(lstat(snap.rootfs)).rejects.toThrow(/ENOENT/);
    }
  });

  it('stacks 150 lowers (past the one-page mount option limit) with whiteouts between them', async () => {
    const layers = join(root, 'many');
    const dirs: string[] = [];
    for (let i = 0; i < 150; i++) {
      // Long paths on purpose: 150 of them would never fit in one page of mount options.
      const d = join(layers, `${'x'.repeat(60)}-${String(i).padStart(3, '0')}`, 'fs');
      await mkdir(d, { recursive: true });
      await writeFile(join(d, `f${i}`), String(i));
      dirs.push(d);
    }
    await makeWhiteouts([join(dirs[100]!, 'f3')]); // layer 100 deletes what layer 3 added
    const parents = [...dirs].reverse(); // top-most first
    const work = snapshotWorkRoot(root);
    for (const s of [new OverlaySnapshotter({ workRoot: work }), new CopySnapshotter({ workRoot: work })] as Snapshotter[]) {
      const snap = await s.prepare(parents, { label: 'many' });
      active.push(snap);
      const names = await readdir(snap.rootfs);
      expect(names.length).toBe(149);
      expect(names).not.toContain('f3');
      expect(await readFile(join(snap.rootfs, 'f149'), 'utf8')).toBe('149');
      await snap.discard();
    }
    expect(mountsUnder(root)).toEqual([]);
  });
});

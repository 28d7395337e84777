import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { Descriptor } from '../../image/descriptor.js';
import { Digester, type Digest, parseDigest } from '../../image/digest.js';
import { SnapshotError } from './errors.js';
import { makeWhiteouts, setOpaque } from './fs-ops.js';
import { spreadSubdirs } from './spread-dirs.js';
import { walkTree } from './tree.js';

/**
 * Content-addressed snapshots of layers: `<storeRoot>/snapshots/<diffId hex>/fs`, each an overlay-format
 * directory (whiteouts as 0/0 char devices, opaque dirs marked by xattr) usable directly as a lower.
 * A layer is unpacked once, ever; a build step's upper dir is committed by a rename, never extracted.
 * Both go through a temp dir in the same filesystem and a rename, so a crash leaves no half snapshot
 * and concurrent callers (this process or others) end with one copy.
 */

/** What ensureUnpacked needs of the store: where it lives and how to read a blob. */
export interface LayerSource {
  readonly root: string;
  readonly blobs: { open(digest: Digest): Readable };
}

export interface LayerRef {
  /** Digest of the uncompressed tar: the snapshot's name, verified while unpacking. */
  diffId: Digest;
  /** The blob as stored (compressed or not). */
  descriptor: Descriptor;
}

export function snapshotsRoot(storeRoot: string): string {
  return join(storeRoot, 'snapshots');
}

/** Where snapshotters should make their working dirs: same filesystem as the snapshots. */
export function snapshotWorkRoot(storeRoot: string): string {
  return join(storeRoot, 'snapshots', 'work');
}

/**
 * Creates the snapshots root if need be, spreading the dirs that will be made in it over the
 * filesystem (see spreadSubdirs; the snapshotter's probe does the same for the work root), and
 * returns the work root.
 */
export async function prepareSnapshotRoots(storeRoot: string): Promise<string> {
  const root = snapshotsRoot(storeRoot);
  if ((await mkdir(root, { recursive: true })) !== undefined) await spreadSubdirs(root);
  return snapshotWorkRoot(storeRoot);
}

/** The snapshot dir of a diffId (whether or not it exists yet). */
export function snapshotDir(storeRoot: string, diffId: Digest): string {
  return join(snapshotsRoot(storeRoot), parseDigest(diffId).hex, 'fs');
}

export async function hasSnapshot(storeRoot: string, diffId: Digest): Promise<boolean> {
  try {
    return (await stat(snapshotDir(storeRoot, diffId))).isDirectory();
  } catch {
    return false;
  }
}

const inflight = new Map<string, Promise<string>>();

/** The snapshot dir of `layer`, unpacking it first if no snapshot of its diffId exists. */
export async function ensureUnpacked(store: LayerSource, layer: LayerRef): Promise<string> {
  const dir = snapshotDir(store.root, layer.diffId);
  if (await hasSnapshot(store.root, layer.diffId)) return dir;
  const key = `${store.root}\0${layer.diffId}`;
  let p = inflight.get(key);
  if (!p) {
    p = unpack(store, layer, dir).finally(() => inflight.delete(key));
    inflight.set(key, p);
  }
  return p;
}

/**
 * Makes a finished step's upper dir (from ActiveSnapshot.release()) the snapshot of `diffId` by moving
 * it, so later steps use it as a lower without extracting the layer that was written from it. If the
 * snapshot already exists, the upper dir is removed instead. Returns the snapshot dir.
 */
export async function commitSnapshot(storeRoot: string, upperdir: string, diffId: Digest): Promise<string> {
  const dir = snapshotDir(storeRoot, diffId);
  if (await hasSnapshot(storeRoot, diffId)) {
    await rm(upperdir, { recursive: true, force: true });
    return dir;
  }
  const tmp = await tempDir(storeRoot);
  await rename(upperdir, join(tmp, 'fs'));
  await publish(tmp, dir);
  return dir;
}

async function tempDir(storeRoot: string): Promise<string> {
  await prepareSnapshotRoots(storeRoot);
  return mkdtemp(join(snapshotsRoot(storeRoot), 'tmp-'));
}

/** Renames `<tmp>` to `<hex>`; a concurrent winner's copy is as good as ours. */
async function publish(tmp: string, dir: string): Promise<void> {
  const target = join(dir, '..');
  try {
    await rename(tmp, target);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    await rm(tmp, { recursive: true, force: true });
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
  }
}

async function unpack(store: LayerSource, layer: LayerRef, dir: string): Promise<string> {
  const tmp = await tempDir(store.root);
  const fs = join(tmp, 'fs');
  try {
    await mkdir(fs);
    const gzip = await isGzip(store, layer.descriptor);
    await extractTar(store.blobs.open(layer.descriptor.digest), gzip, layer, fs);
    await convertWhiteouts(fs);
    await publish(tmp, dir);
    return dir;
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** Gzip by media type, or sniffed: some registries label gzip blobs as plain tars. */
async function isGzip(store: LayerSource, descriptor: Descriptor): Promise<boolean> {
  if (/zstd/.test(descriptor.mediaType)) throw new SnapshotError(`zstd layers are not supported yet (${descriptor.mediaType})`);
  if (/gzip/.test(descriptor.mediaType)) return true;
  const head = store.blobs.open(descriptor.digest);
  try {
    for await (const chunk of head) {
      const b = chunk as Buffer;
      return b[0] === 0x1f && b[1] === 0x8b;
    }
    return false;
  } finally {
    head.destroy();
  }
}

/** Streams the blob through decompression and the diffId check into GNU tar. */
async function extractTar(blob: Readable, gzip: boolean, layer: LayerRef, into: string): Promise<void> {
  const tar = spawn(
    'tar',
    ['-x', '-f', '-', '-C', into, '--numeric-owner', '--same-owner', '-p', '--xattrs', '--xattrs-include=*'],
    { stdio: ['pipe', 'ignore', 'pipe'] },
  );
  let stderr = '';
  tar.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number>((resolve, reject) => {
    tar.on('error', (e) => reject(new SnapshotError(`cannot run tar: ${e.message}`)));
    tar.on('close', (code) => resolve(code ?? 1));
  });
  const digester = new Digester(parseDigest(layer.diffId).algorithm);
  const verify = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      digester.update(chunk);
      cb(null, chunk);
    },
  });
  try {
    if (gzip) await pipeline(blob, createGunzip(), verify, tarInput(tar.stdin));
    else await pipeline(blob, verify, tarInput(tar.stdin));
  } catch (e) {
    tar.kill();
    await exited.catch(() => undefined);
    throw new SnapshotError(`unpacking layer ${layer.descriptor.digest}: ${(e as Error).message}`);
  }
  const code = await exited;
  if (code !== 0) throw new SnapshotError(`unpacking layer ${layer.descriptor.digest}: ${stderr.trim().split('\n')[0] ?? `tar exited ${code}`}`);
  const got = digester.digest();
  if (got !== layer.diffId) throw new SnapshotError(`layer ${layer.descriptor.digest} has diffId ${got}, expected ${layer.diffId}`);
}

/**
 * tar's stdin as the end of the pipeline. tar stops reading at the archive's end marker and exits,
 * while a layer may go on with padding (GNU tar pads to 10 KiB records, other writers as they
 * like): from then on the bytes are still read, so the diffId covers all of them, and dropped.
 * Whether tar succeeded is its exit status's to say.
 */
function tarInput(stdin: Writable): Writable {
  let gone = false;
  stdin.on('error', () => {
    gone = true; // EPIPE: tar has exited
  });
  stdin.on('close', () => {
    gone = true;
  });
  return new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _enc, cb) {
      if (gone || stdin.write(chunk)) return cb();
      const go = () => {
        stdin.off('drain', go);
        stdin.off('close', go);
        cb();
      };
      stdin.on('drain', go);
      stdin.on('close', go);
    },
    final(cb) {
      if (gone) return cb();
      let done = false;
      const finish = () => {
        if (!done) cb();
        done = true;
      };
      // Whichever comes first: the end written, or the pipe closed under it.
      stdin.end(finish);
      stdin.once('close', finish);
    },
  });
}

/** OCI whiteout files (`.wh.name`, `.wh..wh..opq`) become overlay whiteouts and opaque dirs. */
export async function convertWhiteouts(root: string): Promise<void> {
  const markers = (await walkTree(root)).filter((e) => e.rel.split('/').pop()!.startsWith('.wh.'));
  if (markers.length === 0) return;
  const opaque: string[] = [];
  const whiteouts: string[] = [];
  for (const m of markers) {
    const slash = m.rel.lastIndexOf('/');
    const parent = slash < 0 ? '' : m.rel.slice(0, slash);
    const name = m.rel.slice(slash + 1);
    await rm(join(root, m.rel), { recursive: true, force: true });
    if (name === '.wh..wh..opq') opaque.push(join(root, parent));
    else if (!name.startsWith('.wh..wh.')) {
      const target = join(root, parent, name.slice(4));
      // A whiteout for a name the same layer also adds would be a malformed layer: the entry wins.
      await rm(target, { recursive: true, force: true });
      whiteouts.push(target);
    }
  }
  await setOpaque(opaque);
  await makeWhiteouts(whiteouts);
}

import { closeSync, createReadStream, lstatSync, openSync, readlinkSync, readSync, type Stats } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { encodeHeader, END_OF_ARCHIVE, padding, type TarHeader } from './tar-header.js';
import { isOverlayXattr, OPAQUE_WHITEOUT, OVERLAY_OPAQUE_XATTRS, WHITEOUT_PREFIX } from './whiteout.js';
import { type XattrMap, xattrReader } from './xattrs.js';

export interface WriteLayerOptions {
  /** `overlay`: `dir` is an overlayfs upper dir; its whiteouts (0/0 char devices) and opaque dirs become OCI whiteouts. */
  diff?: 'overlay';
  /** Seconds: mtimes later than this are clamped to it (reproducible builds). */
  sourceDateEpoch?: number;
  /** Paths (relative, no leading `./`) to leave out; an excluded directory is left out whole. */
  exclude?: (path: string) => boolean;
  /** Record extended attributes (default true; see xattrs.ts for what this machine can read). */
  xattrs?: boolean;
  signal?: AbortSignal;
}

/** Linux dev_t split the way glibc's major()/minor() do. */
export function splitDev(rdev: number): { major: number; minor: number } {
  const big = BigInt(rdev);
  const major = Number(((big >> 8n) & 0xfffn) | ((big >> 32n) & ~0xfffn));
  const minor = Number((big & 0xffn) | ((big >> 12n) & ~0xffn));
  return { major, minor };
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

interface Item {
  rel: string;
  st: Stats;
}

/** The mtime a layer records for `mtimeMs`: whole seconds, clamped to SOURCE_DATE_EPOCH when set. */
export function layerTime(mtimeMs: number, sourceDateEpoch: number | undefined): number {
  const s = Math.floor(mtimeMs / 1000);
  return sourceDateEpoch !== undefined && s > sourceDateEpoch ? sourceDateEpoch : s;
}

/**
 * A deterministic layer tar of the tree at `dir`: entries depth-first in byte order of names,
 * no `./` prefix, directories with a trailing `/`, numeric owners only, no user/group names,
 * whole-second mtimes (clamped to sourceDateEpoch when given), PAX for what ustar cannot hold,
 * hardlinks for files sharing an inode, sockets skipped. Streams: one file open at a time.
 */
export function writeLayer(dir: string, opts: WriteLayerOptions = {}): Readable {
  return Readable.from(generateLayer(dir, opts), { objectMode: false, highWaterMark: 1 << 20 });
}

async function* generateLayer(dir: string, opts: WriteLayerOptions): AsyncGenerator<Buffer> {
  const overlay = opts.diff === 'overlay';
  const wantXattrs = opts.xattrs !== false;
  const reader = wantXattrs || overlay ? xattrReader() : undefined;
  let xattrs: XattrMap = new Map();
  if (reader) {
    if (!reader.readOne) {
      // One listing pass for the xattr reader; the tree is walked again below, streaming.
      const paths: { path: string; dir: boolean }[] = [];
      if (reader.dirsOnly) for await (const it of walk(dir, '', opts)) if (it.st.isDirectory()) paths.push({ path: it.rel, dir: true });
      xattrs = await reader.read(dir, paths);
    }
  } else if (overlay) {
    throw new Error('reading overlay opaque directories needs getfattr (attr) or GNU tar');
  }
  const clamp = (t: number) => layerTime(t, opts.sourceDateEpoch);
  const links = new Map<string, string>();
  const batch = new ChunkBatcher(1 << 20);
  for await (const { rel, st } of walk(dir, '', opts)) {
    opts.signal?.throwIfAborted();
    if (batch.full) yield batch.take()!;
    const mtime = clamp(st.mtimeMs);
    const attrs = reader?.readOne ? reader.readOne(join(dir, rel)) : xattrs.get(rel);
    let entryXattrs: Map<string, Buffer> | undefined;
    if (attrs && wantXattrs) {
      for (const [k, v] of attrs) {
        if (overlay && isOverlayXattr(k)) continue;
        (entryXattrs ??= new Map()).set(k, v);
      }
    }
    const base: Omit<TarHeader, 'name' | 'type'> = {
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      size: 0,
      mtime,
      ...(entryXattrs ? { xattrs: entryXattrs } : {}),
    };
    const slash = rel.lastIndexOf('/');
    const parent = slash >= 0 ? rel.slice(0, slash + 1) : '';
    const name = rel.slice(slash + 1);
    if (overlay && st.isCharacterDevice() && st.rdev === 0) {
      batch.push(encodeHeader({ name: `${parent}${WHITEOUT_PREFIX}${name}`, type: 'file', mode: 0, uid: 0, gid: 0, size: 0, mtime }));
      continue;
    }
    if (st.isDirectory()) {
      batch.push(encodeHeader({ ...base, name: `${rel}/`, type: 'directory' }));
      if (overlay && OVERLAY_OPAQUE_XATTRS.some((k) => attrs?.get(k)?.toString() === 'y')) {
        batch.push(encodeHeader({ name: `${rel}/${OPAQUE_WHITEOUT}`, type: 'file', mode: 0, uid: 0, gid: 0, size: 0, mtime }));
      }
    } else if (st.isSymbolicLink()) {
      batch.push(encodeHeader({ ...base, name: rel, type: 'symlink', linkname: readlinkSync(join(dir, rel)) }));
    } else if (st.isFile()) {
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? links.get(key) : undefined;
      if (first !== undefined) {
        batch.push(encodeHeader({ ...base, name: rel, type: 'link', linkname: first }));
        continue;
      }
      if (st.nlink > 1) links.set(key, rel);
      batch.push(encodeHeader({ ...base, name: rel, type: 'file', size: st.size }));
      if (st.size > 0 && st.size <= SMALL_FILE) batch.push(readSmallFile(join(dir, rel), rel, st.size));
      else if (st.size > 0) {
        const pending = batch.take();
        if (pending) yield pending;
        let written = 0;
        for await (const chunk of createReadStream(join(dir, rel), { highWaterMark: 1 << 20, end: st.size - 1 }) as AsyncIterable<Buffer>) {
          written += chunk.length;
          yield chunk;
        }
        if (written !== st.size) throw new Error(`${rel} changed size while it was being added to a layer (${st.size} -> ${written} bytes)`);
      }
      batch.push(padding(st.size));
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      const { major, minor } = splitDev(st.rdev);
      batch.push(encodeHeader({ ...base, name: rel, type: st.isCharacterDevice() ? 'character-device' : 'block-device', devmajor: major, devminor: minor }));
    } else if (st.isFIFO()) {
      batch.push(encodeHeader({ ...base, name: rel, type: 'fifo' }));
    }
    // sockets: not content, skipped as docker does
  }
  batch.push(END_OF_ARCHIVE);
  yield batch.take()!;
}

/**
 * Depth-first, byte-ordered walk; the root itself is not an entry. One async readdir per directory,
 * then synchronous lstats: a few microseconds each, where a promise round trip through the thread
 * pool per entry cost more than the call itself (steps copy hundreds of small files).
 */
async function* walk(root: string, rel: string, opts: WriteLayerOptions): AsyncGenerator<Item> {
  const names = (await readdir(rel ? join(root, rel) : root)).sort(byteOrder);
  const items: Item[] = [];
  for (const n of names) {
    const childRel = rel ? `${rel}/${n}` : n;
    if (opts.exclude?.(childRel)) continue;
    items.push({ rel: childRel, st: lstatSync(join(root, childRel)) });
  }
  for (const item of items) {
    yield item;
    if (item.st.isDirectory()) yield* walk(root, item.rel, opts);
  }
}

/** Files up to this size are read whole, synchronously, in one call: most layer files are small. */
const SMALL_FILE = 256 * 1024;

/** The content of a small regular file, checking it still has the size its header announced. */
function readSmallFile(path: string, rel: string, size: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  const fd = openSync(path, 'r');
  try {
    let got = 0;
    while (got < size) {
      const n = readSync(fd, buf, got, size - got, got);
      if (n === 0) break;
      got += n;
    }
    if (got !== size) throw new Error(`${rel} changed size while it was being added to a layer (${size} -> ${got} bytes)`);
  } finally {
    closeSync(fd);
  }
  return buf;
}

/**
 * Coalesces the many small pieces of a tar (headers, small files, padding) into chunks of about
 * `size` bytes, so the consumer (hashing, writing) sees few large writes rather than thousands of tiny ones.
 */
class ChunkBatcher {
  private parts: Buffer[] = [];
  private length = 0;

  constructor(private readonly size: number) {}

  push(b: Buffer): void {
    if (b.length === 0) return;
    this.parts.push(b);
    this.length += b.length;
  }

  /** Whether enough is gathered to hand on. */
  get full(): boolean {
    return this.length >= this.size;
  }

  take(): Buffer | undefined {
    if (this.length === 0) return undefined;
    const out = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.length);
    this.parts = [];
    this.length = 0;
    return out;
  }
}

import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { encodeHeader, END_OF_ARCHIVE, padding } from '../image/layer/tar-header.js';
import { entryComponents } from '../image/layer/safe-path.js';
import { tempPathFor } from './atomic.js';

/** One file of an archive we write: small bytes, or a stream of known size. */
export type ArchiveFile = { name: string; data: Buffer } | { name: string; size: number; open: () => Readable };

/** Archive members are dated like reproducible layers: the epoch, root-owned. */
export async function* archiveEntries(files: AsyncIterable<ArchiveFile> | Iterable<ArchiveFile>): AsyncGenerator<Buffer> {
  const dirs = new Set<string>();
  for await (const f of files) {
    const parts = f.name.split('/');
    for (let i = 1; i < parts.length; i++) {
      const d = `${parts.slice(0, i).join('/')}/`;
      if (dirs.has(d)) continue;
      dirs.add(d);
      yield encodeHeader({ name: d, type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0 });
    }
    const size = 'data' in f ? f.data.length : f.size;
    yield encodeHeader({ name: f.name, type: 'file', mode: 0o644, uid: 0, gid: 0, size, mtime: 0 });
    if ('data' in f) yield f.data;
    else {
      let n = 0;
      for await (const c of f.open()) {
        n += (c as Buffer).length;
        yield c as Buffer;
      }
      if (n !== size) throw new Error(`${f.name}: expected ${size} bytes, got ${n}`);
    }
    yield padding(size);
  }
  yield END_OF_ARCHIVE;
}

/** Writes an archive to `file` atomically (temp file beside it, fsync, rename). */
export async function writeArchiveFile(file: string, files: AsyncIterable<ArchiveFile> | Iterable<ArchiveFile>): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = tempPathFor(file);
  try {
    await pipeline(Readable.from(archiveEntries(files)), createWriteStream(tmp, { flags: 'wx', mode: 0o644, flush: true, highWaterMark: 1 << 20 }));
    await rename(tmp, file);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
}

/** Unpacks the regular files of an archive into `dir` (refusing `..`), so either format can be read in any order. */
export async function unpackArchive(input: Readable, dir: string): Promise<void> {
  const extract = tar.extract();
  input.on('error', (e) => extract.destroy(e));
  input.pipe(extract as unknown as NodeJS.WritableStream);
  for await (const entry of extract) {
    const parts = entryComponents(entry.header.name);
    if (entry.header.type !== 'file' && entry.header.type !== 'contiguous-file') {
      entry.resume();
      continue;
    }
    if (parts.length === 0) {
      entry.resume();
      continue;
    }
    const path = join(dir, ...parts);
    await mkdir(dirname(path), { recursive: true });
    await rm(path, { force: true });
    await pipeline(entry as unknown as Readable, createWriteStream(path, { flags: 'wx', highWaterMark: 1 << 20 }));
  }
}

export function openFile(path: string): Readable {
  return createReadStream(path, { highWaterMark: 1 << 20 });
}

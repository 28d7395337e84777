import { randomBytes } from 'node:crypto';
import { close, constants, fdatasync, fstat, fsync, ftruncate, open as openCb, type Stats, writev } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, utimes } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type Readable, Writable } from 'node:stream';
import { promisify } from 'node:util';
import { checkPath, type FileInfo, type FileWriter, PathNotFoundError, type StorageDriver } from './driver.js';
import { syncDir } from '../../src/store/atomic.js';

const fsOpen = promisify(openCb);
const fsFstat = promisify(fstat);
const fsFsync = promisify(fsync);
const fsFtruncate = promisify(ftruncate);
const fsClose = promisify(close);

const TEMP_PREFIX = '.tmp-';
/** Big buffers: a blob moves in few syscalls. */
const STREAM_BUFFER = 1 << 20;

function code(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | null)?.code;
}

/** The default driver: a directory on the local disk, atomic by temp file + fsync + rename. */
export class FilesystemDriver implements StorageDriver {
  constructor(readonly root: string) {}

  private full(path: string): string {
    return join(this.root, checkPath(path));
  }

  private notFound(path: string, e: unknown): never {
    if (code(e) === 'ENOENT' || code(e) === 'ENOTDIR') throw new PathNotFoundError(path);
    throw e;
  }

  async getContent(path: string): Promise<Buffer> {
    try {
      return await readFile(this.full(path));
    } catch (e) {
      this.notFound(path, e);
    }
  }

  async putContent(path: string, content: Uint8Array): Promise<void> {
    const dest = this.full(path);
    await mkdir(dirname(dest), { recursive: true });
    const temp = join(dirname(dest), `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`);
    const fh = await open(temp, 'wx', 0o644);
    try {
      await fh.writeFile(content);
      await fh.sync();
    } catch (e) {
      await fh.close();
      await rm(temp, { force: true });
      throw e;
    }
    await fh.close();
    try {
      await rename(temp, dest);
    } catch (e) {
      await rm(temp, { force: true });
      throw e;
    }
  }

  localFile(path: string): string {
    return this.full(path);
  }

  async reader(path: string, range: { start?: number; end?: number } = {}): Promise<Readable> {
    let fh;
    try {
      fh = await open(this.full(path), 'r');
    } catch (e) {
      this.notFound(path, e);
    }
    return fh.createReadStream({ start: range.start ?? 0, ...(range.end !== undefined ? { end: range.end } : {}), highWaterMark: STREAM_BUFFER });
  }

  async writer(path: string): Promise<FileWriter> {
    const file = this.full(path);
    await mkdir(dirname(file), { recursive: true });
    // A numeric fd: fs streams over a FileHandle keep it referenced, and closing it then stalls.
    const fd = await fsOpen(file, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND, 0o644);
    const startSize = (await fsFstat(fd)).size;
    const stream = new FdWriter(fd);
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await fsClose(fd);
    };
    return {
      startSize,
      stream,
      async commit(opts = {}) {
        if (!stream.writableFinished) throw new Error(`writer for ${path} committed before its stream finished`);
        await stream.idle();
        try {
          if (opts.sync) await fsFsync(fd);
        } finally {
          await close();
        }
      },
      async cancel() {
        if (closed) return;
        stream.destroy();
        // A write already handed to the kernel would land after the truncate.
        await stream.idle();
        try {
          await fsFtruncate(fd, startSize);
        } finally {
          await close();
        }
      },
    };
  }

  async stat(path: string): Promise<FileInfo> {
    let s: Stats;
    try {
      s = await stat(this.full(path));
    } catch (e) {
      this.notFound(path, e);
    }
    return { size: s.size, modTime: s.mtime, isDir: s.isDirectory() };
  }

  async list(path: string): Promise<string[]> {
    try {
      return (await readdir(this.full(path))).filter((n) => !n.startsWith(TEMP_PREFIX)).sort();
    } catch (e) {
      if (code(e) === 'ENOENT' || code(e) === 'ENOTDIR') return [];
      throw e;
    }
  }

  async move(source: string, dest: string): Promise<void> {
    const from = this.full(source);
    const to = this.full(dest);
    // The bytes must be on disk before the name that makes them visible.
    let fh;
    try {
      fh = await open(from, 'r');
    } catch (e) {
      this.notFound(source, e);
    }
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await mkdir(dirname(to), { recursive: true });
    await rename(from, to);
    await syncDir(dirname(to));
  }

  async delete(path: string): Promise<void> {
    await rm(this.full(path), { recursive: true, force: true });
  }

  async touch(path: string): Promise<void> {
    const now = new Date();
    try {
      await utimes(this.full(path), now, now);
    } catch (e) {
      this.notFound(path, e);
    }
  }
}


/** Bytes an upload gathers before the disk is asked to start writing them (see FdWriter). */
const WRITEBACK_EVERY = 32 << 20;
let writebacks = 0;

/**
 * Appends to an fd we own; unlike fs.WriteStream it can say when no write is in flight. Every
 * WRITEBACK_EVERY bytes it starts an fdatasync in the background (one at a time in the process,
 * never awaited by the writer), so that the disk writes an upload while it arrives and the fsync
 * that commits the blob finds little left to flush.
 */
class FdWriter extends Writable {
  private inFlight: Promise<void> = Promise.resolve();
  private writeback: Promise<void> = Promise.resolve();
  private writingBack = false;
  private sinceWriteback = 0;

  constructor(private readonly fd: number) {
    super({ highWaterMark: STREAM_BUFFER });
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (e?: Error | null) => void): void {
    this.inFlight = new Promise<void>((resolve) => {
      writeAll(this.fd, chunks.map((c) => c.chunk), (e) => {
        resolve();
        if (!e) {
          for (const c of chunks) this.sinceWriteback += c.chunk.length;
          this.startWriteback();
        }
        cb(e);
      });
    });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this._writev([{ chunk }], cb);
  }

  private startWriteback(): void {
    if (this.writingBack || writebacks >= 1 || this.sinceWriteback < WRITEBACK_EVERY) return;
    writebacks++;
    this.writingBack = true;
    this.sinceWriteback = 0;
    this.writeback = new Promise<void>((resolve) => {
      fdatasync(this.fd, () => {
        writebacks--;
        this.writingBack = false;
        resolve();
      });
    });
  }

  /** Resolves once no write and no writeback is in flight on the fd. */
  async idle(): Promise<void> {
    await this.inFlight;
    await this.writeback;
  }
}

/** writev until every byte is written (the kernel may take fewer). */
function writeAll(fd: number, bufs: Buffer[], cb: (e: Error | null) => void): void {
  writev(fd, bufs, (e, n) => {
    if (e) return cb(e);
    let left = n;
    const rest: Buffer[] = [];
    for (const b of bufs) {
      if (left >= b.length) left -= b.length;
      else {
        rest.push(left > 0 ? b.subarray(left) : b);
        left = 0;
      }
    }
    if (rest.length === 0) cb(null);
    else writeAll(fd, rest, cb);
  });
}

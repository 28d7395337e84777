import { createReadStream } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, readFile, rename, stat, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { type Digest, type DigestAlgorithm, digestOf, isDigest, parseDigest } from '../image/digest.js';
import { syncDir, tempPathFor } from './atomic.js';
import type { BlobExpectation, BlobInfo, BlobStore, BlobWriteOptions } from './blob-store.js';
import { BlobIntegrityError, BlobNotFoundError, BlobSizeError } from './errors.js';
import { DigestingStream } from './verify.js';
import { streamHash } from './stream-hash.js';

const ALGORITHMS: DigestAlgorithm[] = ['sha256', 'sha512'];

/**
 * Blobs as files under `<dir>/<algorithm>/<hex>`. A write streams into a temp file in the same
 * directory while digesting it, checks the expectation, fsyncs, then renames: readers see the
 * whole blob or none. Two writers of one blob both rename identical bytes into place, so
 * concurrent pulls and builds are safe. Every read is verified while streaming.
 */
export class FsBlobStore implements BlobStore {
  constructor(readonly dir: string) {}

  path(digest: Digest): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(this.dir, algorithm, hex);
  }

  async has(digest: Digest): Promise<boolean> {
    return (await this.stat(digest)) !== undefined;
  }

  async stat(digest: Digest): Promise<BlobInfo | undefined> {
    try {
      const st = await stat(this.path(digest));
      return st.isFile() ? { digest, size: st.size } : undefined;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  open(digest: Digest): Readable {
    const file = createReadStream(this.path(digest), { highWaterMark: 1 << 20 });
    const verifier = new DigestingStream({
      expected: digest,
      mismatch: (actual) => new BlobIntegrityError(digest, actual, 'read'),
    });
    file.on('error', (e: NodeJS.ErrnoException) => verifier.destroy(e.code === 'ENOENT' ? new BlobNotFoundError(digest) : e));
    verifier.on('close', () => file.destroy());
    return file.pipe(verifier);
  }

  async readBytes(digest: Digest): Promise<Buffer> {
    let data: Buffer;
    try {
      data = await readFile(this.path(digest));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new BlobNotFoundError(digest);
      throw e;
    }
    // Whole and small (manifests, configs): hashed in one call, no stream machinery.
    const actual = digestOf(data, parseDigest(digest).algorithm);
    if (actual !== digest) throw new BlobIntegrityError(digest, { digest: actual, size: data.length }, 'read');
    return data;
  }

  async write(content: Readable | AsyncIterable<Uint8Array>, expected: BlobExpectation = {}, opts: BlobWriteOptions = {}): Promise<BlobInfo> {
    return this.commit(content, expected, opts);
  }

  /**
   * Streams `content` into a temp file while hashing it (each byte once, on the thread pool when
   * it can: see streamHash),
   * checks the expectation, fsyncs once, then renames into place. Writes are batched (writev) and
   * overlap with reading the source; the disk is asked to start writing back early (see
   * BlobFileWriter) so that the one fsync before the rename finds little left to flush.
   */
  private async commit(content: Readable | AsyncIterable<Uint8Array> | Iterable<Uint8Array>, expected: BlobExpectation, opts: BlobWriteOptions): Promise<BlobInfo> {
    const algorithm = expected.digest ? parseDigest(expected.digest).algorithm : 'sha256';
    const algoDir = join(this.dir, algorithm);
    await mkdir(algoDir, { recursive: true });
    const tmp = tempPathFor(join(algoDir, 'blob'));
    const signal = opts.signal;
    signal?.throwIfAborted();
    const readable = content instanceof Readable ? content : undefined;
    const onAbort = () => readable?.destroy(abortError(signal!));
    signal?.addEventListener('abort', onAbort, { once: true });
    const hash = streamHash(algorithm);
    let size = 0;
    let info: BlobInfo;
    const fh = await open(tmp, 'wx', 0o644);
    const file = new BlobFileWriter(fh);
    // Chunks held by the hash or the file until both have passed their end.
    const held: { chunk: Uint8Array; end: number }[] = [];
    const recycle = (all = false) => {
      const done = all ? size : Math.min(size - hash.backlog(), file.written);
      while (held.length > 0 && held[0]!.end <= done) opts.recycle!(held.shift()!.chunk);
    };
    try {
      try {
        for await (const c of content as AsyncIterable<Uint8Array | string>) {
          if (signal?.aborted) throw abortError(signal);
          const chunk = typeof c === 'string' ? Buffer.from(c) : c;
          if (chunk.length === 0) continue;
          size += chunk.length;
          if (expected.size !== undefined && size > expected.size) throw new BlobSizeError(expected.size, size, expected.digest);
          hash.update(chunk);
          await file.write(chunk);
          // Hashing behind the network: stop reading until it catches up.
          if (hash.backlog() > MAX_HASH_BACKLOG) await hash.drain(MAX_HASH_BACKLOG / 2);
          if (opts.recycle) {
            held.push({ chunk, end: size });
            recycle();
          }
        }
        if (signal?.aborted) throw abortError(signal);
        info = { digest: `${algorithm}:${await hash.hex()}`, size };
        if (expected.size !== undefined && size !== expected.size) throw new BlobSizeError(expected.size, size, expected.digest);
        if (expected.digest && info.digest !== expected.digest) throw new BlobIntegrityError(expected.digest, info, 'write');
        // The one fsync per blob, before the rename: a committed blob survives a crash.
        await file.finish();
        if (opts.recycle) recycle(true);
      } finally {
        signal?.removeEventListener('abort', onAbort);
        await file.close();
      }
    } catch (e) {
      readable?.destroy();
      await unlink(tmp).catch(() => {});
      throw e;
    }
    try {
      // Hold first, then commit: a concurrent GC that lists blobs after the rename sees the hold.
      await opts.hold?.add([info.digest]);
      await rename(tmp, this.path(info.digest));
    } catch (e) {
      await unlink(tmp).catch(() => {});
      throw e;
    }
    await syncDir(algoDir);
    return info;
  }

  async writeBytes(data: Uint8Array | string, expected: BlobExpectation = {}, opts: BlobWriteOptions = {}): Promise<BlobInfo> {
    return this.commit([typeof data === 'string' ? Buffer.from(data) : data], expected, opts);
  }

  /** Marks a blob as just used, so that a GC already running leaves it alone (see gc.ts). */
  async touch(digest: Digest): Promise<void> {
    const now = new Date();
    await utimes(this.path(digest), now, now).catch(() => {});
  }

  async delete(digest: Digest): Promise<void> {
    try {
      await unlink(this.path(digest));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }

  async *list(): AsyncIterable<Digest> {
    for (const algorithm of ALGORITHMS) {
      let names: string[];
      try {
        names = await readdir(join(this.dir, algorithm));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw e;
      }
      for (const hex of names) {
        const d = `${algorithm}:${hex}`;
        if (isDigest(d)) yield d;
      }
    }
  }
}

/** Bytes waiting to be hashed before a writer waits (backpressure towards the source). */
const MAX_HASH_BACKLOG = 2 << 20;
/** Bytes queued for the disk before a writer waits (backpressure towards the source). */
const MAX_QUEUED = 1 << 20;
/** Bytes written between two requests to start writeback (see BlobFileWriter). */
const WRITEBACK_EVERY = 32 << 20;
/** Early writebacks running at once in this process: each holds a libuv pool thread. */
const MAX_WRITEBACKS = 1;
let writebacks = 0;

/**
 * Appends chunks to a file: they queue while one writev is in flight, so the source keeps flowing
 * while the disk works. Without help, a big blob sits dirty in the page cache until the final
 * fsync, which then flushes all of it while nothing else happens; Node has no sync_file_range, so
 * every WRITEBACK_EVERY bytes an fdatasync is started in the background (never awaited by the
 * writer, at most MAX_WRITEBACKS in the process): the disk writes while the network delivers.
 * The durability point stays the single fsync in finish().
 */
class BlobFileWriter {
  private queue: Uint8Array[] = [];
  private queued = 0;
  private inflight: Promise<void> | undefined;
  private writeback: Promise<void> | undefined;
  /** Bytes the kernel has taken (the chunks holding them are free again). */
  written = 0;
  private writtenAtWriteback = 0;
  private failure: unknown;
  private closed = false;

  constructor(private readonly fh: FileHandle) {}

  /** Queues a chunk (not copied: the caller must not reuse it); waits while too much is queued. */
  async write(chunk: Uint8Array): Promise<void> {
    if (this.failure) throw this.failure;
    this.queue.push(chunk);
    this.queued += chunk.length;
    if (!this.inflight) this.flush();
    while (this.queued >= MAX_QUEUED && this.inflight) await this.inflight;
    if (this.failure) throw this.failure;
  }

  private flush(): void {
    const batch = this.queue;
    const n = this.queued;
    this.queue = [];
    this.queued = 0;
    this.inflight = writevAll(this.fh, batch, n).then(
      () => {
        this.written += n;
        this.inflight = undefined;
        this.startWriteback();
        if (this.queue.length > 0 && !this.failure) this.flush();
      },
      (e: unknown) => {
        this.failure ??= e;
        this.inflight = undefined;
      },
    );
  }

  private startWriteback(): void {
    if (this.writeback || this.closed || writebacks >= MAX_WRITEBACKS || this.written - this.writtenAtWriteback < WRITEBACK_EVERY) return;
    writebacks++;
    this.writtenAtWriteback = this.written;
    this.writeback = this.fh.datasync().then(
      () => undefined,
      (e: unknown) => {
        this.failure ??= e;
      },
    ).finally(() => {
      writebacks--;
      this.writeback = undefined;
    });
  }

  /** Waits for every queued byte to be written, then fsyncs. */
  async finish(): Promise<void> {
    while (this.inflight) await this.inflight;
    if (this.queue.length > 0 && !this.failure) {
      this.flush();
      while (this.inflight) await this.inflight;
    }
    await this.writeback;
    if (this.failure) throw this.failure;
    await this.fh.sync();
  }

  /** Closes the file once nothing is in flight on it (also after a failure). */
  async close(): Promise<void> {
    this.closed = true;
    while (this.inflight) await this.inflight;
    await this.writeback;
    await this.fh.close();
  }
}

async function writevAll(fh: FileHandle, chunks: Uint8Array[], total: number): Promise<void> {
  // libuv writes every buffer (looping over partial writes and IOV_MAX); a short count is an error.
  const { bytesWritten } = chunks.length === 1 ? await fh.write(chunks[0]!) : await fh.writev(chunks);
  if (bytesWritten !== total) throw new Error(`short write: ${bytesWritten} of ${total} bytes`);
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : Object.assign(new Error('The operation was aborted'), { name: 'AbortError', code: 'ABORT_ERR' });
}

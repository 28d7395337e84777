import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, stat, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Digest, type DigestAlgorithm, isDigest, parseDigest } from '../image/digest.js';
import { syncDir, tempPathFor } from './atomic.js';
import type { BlobExpectation, BlobInfo, BlobStore, BlobWriteOptions } from './blob-store.js';
import { BlobIntegrityError, BlobNotFoundError, BlobSizeError } from './errors.js';
import { DigestingStream } from './verify.js';

const ALGORITHMS: DigestAlgorithm[] = ['sha256', 'sha512'];

/**
 * Blobs as files under `<dir>/<algorithm>/<hex>`. A write streams into a temp file in the same
 * directory while ssri digests it, fsyncs, checks the expectation, then renames: readers see the
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
    const v = new DigestingStream({ expected: digest, mismatch: (actual) => new BlobIntegrityError(digest, actual, 'read') });
    await pipeline(Readable.from([data]), v, new PassThrough().resume());
    return data;
  }

  async write(content: Readable | AsyncIterable<Uint8Array>, expected: BlobExpectation = {}, opts: BlobWriteOptions = {}): Promise<BlobInfo> {
    const algorithm = expected.digest ? parseDigest(expected.digest).algorithm : 'sha256';
    const algoDir = join(this.dir, algorithm);
    await mkdir(algoDir, { recursive: true });
    const tmp = tempPathFor(join(algoDir, 'blob'));
    const digester = new DigestingStream({
      algorithm,
      ...(expected.digest ? { expected: expected.digest } : {}),
      ...(expected.size !== undefined ? { expectedSize: expected.size } : {}),
      mismatch: (actual) => new BlobIntegrityError(expected.digest!, actual, 'write'),
      sizeMismatch: (actual) => new BlobSizeError(expected.size!, actual, expected.digest),
    });
    try {
      // flush: fsync before close, so a committed blob survives a crash.
      const sink = createWriteStream(tmp, { flags: 'wx', mode: 0o644, flush: true, highWaterMark: 1 << 20 });
      if (opts.signal) await pipeline(content, digester, sink, { signal: opts.signal });
      else await pipeline(content, digester, sink);
    } catch (e) {
      await unlink(tmp).catch(() => {});
      throw e;
    }
    const info: BlobInfo = { digest: digester.result!.digest, size: digester.result!.size };
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
    return this.write(Readable.from([typeof data === 'string' ? Buffer.from(data) : data]), expected, opts);
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

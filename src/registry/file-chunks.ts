import { open } from 'node:fs/promises';

/** Opens a blob's bytes (whole or a byte range, `end` inclusive) as chunks pulled one at a time. */
export type OpenChunks = (range?: { start: number; end: number }) => AsyncIterable<Uint8Array>;

export interface FileChunksOptions {
  /** Bytes per read. */
  chunkSize?: number;
  /** Buffers read into in turn; see fileChunks for why reuse is safe. */
  ring?: number;
  /** The ring itself, when the caller reuses one across reads (see fileRanges). */
  buffers?: Buffer[];
  onBytes?: (n: number) => void;
}

const CHUNK = 1 << 20;
const RING = 3;

/**
 * A file's bytes (or a range) as an async iterable that reads into a small ring of buffers it
 * reuses, so an upload of any size allocates `ring * chunkSize` bytes once instead of a new buffer
 * per chunk (garbage that only a GC returns: RSS grew by tens of MB per transfer).
 *
 * Reuse is safe only for a consumer that asks for the next chunk once it is done with the
 * previous one and keeps no reference: undici's iterable request body does exactly that (it
 * writes a chunk to the socket and waits for 'drain' before pulling the next, and a socket
 * drains only once the kernel has copied everything). A ring of several buffers leaves slack,
 * and the registry verifies the digest of what it received in any case, so a consumer that broke
 * the rule could cause a refused upload, never a wrong blob. Do not hand these chunks to a
 * stream that buffers ahead (a Transform, `Readable.from`): copy them instead.
 */
export async function* fileChunks(path: string, range?: { start: number; end: number }, opts: FileChunksOptions = {}): AsyncGenerator<Uint8Array> {
  const size = opts.chunkSize ?? CHUNK;
  const fh = await open(path, 'r');
  try {
    let pos = range?.start ?? 0;
    const end = range ? range.end + 1 : (await fh.stat()).size;
    const ring = opts.buffers ?? newRing(end - pos, size, opts.ring ?? RING);
    for (let i = 0; pos < end; i++) {
      const buf = ring[i % ring.length]!;
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, end - pos), pos);
      // The file shrank under us: stop; the consumer (Content-Length, digest) notices.
      if (bytesRead === 0) return;
      pos += bytesRead;
      opts.onBytes?.(bytesRead);
      yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}

/**
 * The ranges of one file, read one after another (an upload's chunks, its retries) into one
 * ring of buffers: a blob sent in many requests allocates the ring once. A read that starts while
 * another is still going (a request given up early while its body was being sent) gets a ring of
 * its own, so two reads never share buffers.
 */
export function fileRanges(path: string, size: number, opts: FileChunksOptions = {}): OpenChunks {
  let shared: Buffer[] | undefined;
  let busy = false;
  return (range) =>
    (async function* () {
      const mine = !busy;
      busy = true;
      try {
        yield* fileChunks(path, range, mine ? { ...opts, buffers: (shared ??= newRing(size, opts.chunkSize ?? CHUNK, opts.ring ?? RING)) } : opts);
      } finally {
        if (mine) busy = false;
      }
    })();
}

/** At least two buffers (one being sent, one being read), none bigger than the bytes to read. */
function newRing(bytes: number, chunkSize: number, count: number): Buffer[] {
  return Array.from({ length: Math.max(2, Math.min(count, Math.ceil(bytes / chunkSize) || 1)) }, () => Buffer.allocUnsafe(Math.min(chunkSize, Math.max(1, bytes))));
}

/** Counts what an iterable yields, pulling one chunk at a time (no read-ahead, unlike a Transform). */
export async function* countedChunks(chunks: AsyncIterable<Uint8Array>, onBytes?: (n: number) => void): AsyncGenerator<Uint8Array> {
  for await (const c of chunks) {
    onBytes?.(c.length);
    yield c;
  }
}

import type { Readable } from 'node:stream';
import type { Digest } from '../image/digest.js';

/** What is known of a blob once it is committed. */
export interface BlobInfo {
  digest: Digest;
  size: number;
}

/** Expectations checked while a blob streams in; nothing is committed unless they hold. */
export interface BlobExpectation {
  digest?: Digest;
  size?: number;
}

/** Something that keeps blobs from garbage collection while it lives (see Store.hold). */
export interface BlobHold {
  add(digests: Iterable<Digest>): Promise<void>;
  release(): Promise<void>;
}

export interface BlobWriteOptions {
  /** The new blob is added to this hold before it is committed, so a concurrent GC cannot take it. */
  hold?: BlobHold;
  signal?: AbortSignal;
  /**
   * Called with each chunk of the content, in order, once the store is done with it (hashed and
   * on its way to disk), so that the producer may reuse the memory. Not called after a failure.
   */
  recycle?: (chunk: Uint8Array) => void;
}

/**
 * Content-addressed, immutable blobs (`<root>/blobs/sha256/<hex>`). Writes verify and commit
 * atomically; reads verify while streaming and fail rather than serve corrupted bytes.
 */
export interface BlobStore {
  has(digest: Digest): Promise<boolean>;
  stat(digest: Digest): Promise<BlobInfo | undefined>;
  /** The committed file of a blob, for tools that need a path (e.g. unpacking). Not verified. */
  path(digest: Digest): string;
  /** A stream that errors (never ends cleanly) if the bytes on disk do not match the digest. */
  open(digest: Digest): Readable;
  /** Small blobs (manifests, configs) read whole and verified. */
  readBytes(digest: Digest): Promise<Buffer>;
  /** Streams content in; verifies `expected` if given; returns what was committed. */
  write(content: Readable | AsyncIterable<Uint8Array>, expected?: BlobExpectation, opts?: BlobWriteOptions): Promise<BlobInfo>;
  writeBytes(data: Uint8Array | string, expected?: BlobExpectation, opts?: BlobWriteOptions): Promise<BlobInfo>;
  delete(digest: Digest): Promise<void>;
  list(): AsyncIterable<Digest>;
}

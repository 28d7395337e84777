import { createHash, type Hash } from 'node:crypto';
import type { DigestAlgorithm } from '../image/digest.js';
import { nativeSha256, PooledSha256 } from '../native/pooled-sha256.js';

/** A hash fed chunk by chunk while a blob streams in; the digest may take a moment to settle. */
export interface StreamHash {
  /** Takes the chunk as is: the caller must not reuse it. */
  update(chunk: Uint8Array): void;
  /** Bytes not hashed yet. */
  backlog(): number;
  /** Resolves once at most `bytes` are left to hash. */
  drain(bytes?: number): Promise<void>;
  /** An independent hash in the state this one reaches once all updated so far is hashed. */
  copy(): Promise<StreamHash>;
  /** The digest; the hash is spent. */
  hex(): Promise<string>;
}

/**
 * sha256 on the thread pool when the native module is there (the main thread then only moves
 * bytes: a pull hashes gigabytes), Node's createHash on the main thread otherwise and for other
 * algorithms.
 */
export function streamHash(algorithm: DigestAlgorithm): StreamHash {
  const native = algorithm === 'sha256' ? nativeSha256() : undefined;
  return native ? new PooledSha256(native) : mainThreadHash(createHash(algorithm));
}

function mainThreadHash(h: Hash): StreamHash {
  return {
    update: (chunk) => void h.update(chunk),
    backlog: () => 0,
    drain: () => Promise.resolve(),
    copy: () => Promise.resolve(mainThreadHash(h.copy())),
    hex: () => Promise.resolve(h.digest('hex')),
  };
}

import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { type Digest, type DigestAlgorithm, parseDigest } from '../image/digest.js';

/** The SRI form (`sha256-<base64>`) of a digest, as ssri and npm write integrity strings. */
export function integrityOf(digest: Digest): string {
  const { algorithm, hex } = parseDigest(digest);
  return `${algorithm}-${Buffer.from(hex, 'hex').toString('base64')}`;
}

/** Back from an SRI integrity string (space-separated `algo-base64[?opts]` entries) to an OCI digest. */
export function digestOfIntegrity(sri: string, algorithm: DigestAlgorithm): Digest {
  for (const part of sri.trim().split(/\s+/)) {
    const m = /^([a-z0-9]+)-([A-Za-z0-9+/]+={0,2})(?:\?.*)?$/.exec(part);
    if (m && m[1] === algorithm) return `${algorithm}:${Buffer.from(m[2]!, 'base64').toString('hex')}`;
  }
  throw new Error(`no ${algorithm} in integrity ${sri}`);
}

export interface VerifyResult {
  digest: Digest;
  size: number;
}

/**
 * A pass-through that digests what flows through it and, when `expected` is given, fails at the
 * end (instead of ending cleanly) if the content does not match. A consumer that sees 'end' has
 * therefore seen verified bytes. Node's hash directly: each byte is hashed once, and the module
 * loads nothing (ssri and its stream library cost more to load than a small blob costs to hash).
 */
export class DigestingStream extends Transform {
  private readonly hash: Hash;
  private readonly algorithm: DigestAlgorithm;
  size = 0;
  result: VerifyResult | undefined;

  constructor(
    private readonly opts: {
      algorithm?: DigestAlgorithm;
      expected?: Digest;
      expectedSize?: number;
      /** Builds the error for a mismatch (so the store can name the blob and the side). */
      mismatch: (actual: VerifyResult) => Error;
      sizeMismatch?: (actual: number) => Error;
    },
  ) {
    super({ highWaterMark: 1 << 20 });
    this.algorithm = opts.expected ? parseDigest(opts.expected).algorithm : (opts.algorithm ?? 'sha256');
    this.hash = createHash(this.algorithm);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.size += chunk.length;
    if (this.opts.expectedSize !== undefined && this.size > this.opts.expectedSize) {
      cb(this.opts.sizeMismatch?.(this.size) ?? this.opts.mismatch({ digest: '?:?' as Digest, size: this.size }));
      return;
    }
    this.hash.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    const r: VerifyResult = { digest: `${this.algorithm}:${this.hash.digest('hex')}`, size: this.size };
    this.result = r;
    if (this.opts.expectedSize !== undefined && r.size !== this.opts.expectedSize) {
      cb(this.opts.sizeMismatch?.(r.size) ?? this.opts.mismatch(r));
      return;
    }
    if (this.opts.expected && r.digest !== this.opts.expected) {
      cb(this.opts.mismatch(r));
      return;
    }
    cb();
  }
}

import { Transform, type TransformCallback } from 'node:stream';
import ssri from 'ssri';
import { type Digest, type DigestAlgorithm, parseDigest } from '../image/digest.js';

/** The SRI form ssri checks against: `sha256-<base64>`. */
export function integrityOf(digest: Digest): string {
  const { algorithm, hex } = parseDigest(digest);
  return `${algorithm}-${Buffer.from(hex, 'hex').toString('base64')}`;
}

/** Back from an ssri integrity string to an OCI digest. */
export function digestOfIntegrity(sri: string, algorithm: DigestAlgorithm): Digest {
  const hash = ssri.parse(sri, { single: false }) as unknown as Record<string, { digest: string }[]>;
  const b64 = hash[algorithm]?.[0]?.digest;
  if (!b64) throw new Error(`no ${algorithm} in integrity ${sri}`);
  return `${algorithm}:${Buffer.from(b64, 'base64').toString('hex')}`;
}

export interface VerifyResult {
  digest: Digest;
  size: number;
}

/**
 * A pass-through that digests what flows through it with ssri and, when `expected` is given,
 * fails at the end (instead of ending cleanly) if the content does not match. A consumer that
 * sees 'end' has therefore seen verified bytes. `onResult` runs before 'end'.
 */
export class DigestingStream extends Transform {
  private readonly checker: ReturnType<typeof ssri.integrityStream>;
  private readonly algorithm: DigestAlgorithm;
  private failure: Error | undefined;
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
    this.checker = ssri.integrityStream({ algorithms: [this.algorithm] });
    this.checker.on('integrity', (sri: unknown) => {
      this.result = { digest: digestOfIntegrity(String(sri), this.algorithm), size: this.size };
    });
    this.checker.on('error', (e: Error) => {
      this.failure = e;
    });
    // ssri's stream passes data through; let it flow so nothing piles up inside it.
    this.checker.resume();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.size += chunk.length;
    if (this.opts.expectedSize !== undefined && this.size > this.opts.expectedSize) {
      cb(this.opts.sizeMismatch?.(this.size) ?? this.opts.mismatch({ digest: '?:?' as Digest, size: this.size }));
      return;
    }
    this.checker.write(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.checker.on('end', () => {
      if (this.failure) return cb(this.failure);
      const r = this.result;
      if (!r) return cb(new Error('digest not computed'));
      if (this.opts.expectedSize !== undefined && r.size !== this.opts.expectedSize) {
        return cb(this.opts.sizeMismatch?.(r.size) ?? this.opts.mismatch(r));
      }
      if (this.opts.expected && r.digest !== this.opts.expected) return cb(this.opts.mismatch(r));
      cb();
    });
    this.checker.end();
  }
}

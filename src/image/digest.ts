import { createHash, type Hash } from 'node:crypto';

/** A content digest, `algorithm:hex`, e.g. `sha256:e3b0c442...`. The identity of every blob. */
export type Digest = `${string}:${string}`;

export type DigestAlgorithm = 'sha256' | 'sha512';

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };

/** The spec's digest grammar, restricted to the algorithms we can verify. */
const DIGEST_RE = /^(sha256|sha512):([a-f0-9]+)$/;

export class DigestError extends Error {
  override name = 'DigestError';
}

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
}

/** Parses and validates a digest; throws DigestError naming the bad input. */
export function parseDigest(value: string): ParsedDigest {
  const m = DIGEST_RE.exec(value);
  if (!m) throw new DigestError(`invalid digest ${JSON.stringify(value.slice(0, 200))}`);
  const algorithm = m[1] as DigestAlgorithm;
  const hex = m[2]!;
  if (hex.length !== HEX_LENGTH[algorithm]) {
    throw new DigestError(`invalid ${algorithm} digest length in ${JSON.stringify(value.slice(0, 200))}`);
  }
  return { algorithm, hex };
}

export function isDigest(value: unknown): value is Digest {
  if (typeof value !== 'string') return false;
  const m = DIGEST_RE.exec(value);
  return !!m && m[2]!.length === HEX_LENGTH[m[1] as DigestAlgorithm];
}

export function asDigest(value: string): Digest {
  parseDigest(value);
  return value as Digest;
}

/** sha256 of in-memory bytes; only for small things such as manifests and configs. */
export function digestOf(data: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

/** A running digest for streamed content. */
export class Digester {
  readonly algorithm: DigestAlgorithm;
  private readonly hash: Hash;
  size = 0;

  constructor(algorithm: DigestAlgorithm = 'sha256') {
    this.algorithm = algorithm;
    this.hash = createHash(algorithm);
  }

  update(chunk: Uint8Array): void {
    this.size += chunk.length;
    this.hash.update(chunk);
  }

  digest(): Digest {
    return `${this.algorithm}:${this.hash.digest('hex')}`;
  }
}

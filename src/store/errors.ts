import type { Digest } from '../image/digest.js';

/** A blob that the store does not have. */
export class BlobNotFoundError extends Error {
  override name = 'BlobNotFoundError';
  constructor(readonly digest: Digest) {
    super(`blob ${digest} not found in the store`);
  }
}

/** Bytes that do not match the digest (or size) they were written or stored under; never served. */
export class BlobIntegrityError extends Error {
  override name = 'BlobIntegrityError';
  constructor(
    readonly digest: Digest,
    readonly actual: { digest?: Digest; size: number },
    readonly where: 'read' | 'write',
  ) {
    super(
      where === 'read'
        ? `blob ${digest} is corrupt in the store: its content is ${actual.size} bytes with digest ${actual.digest ?? '?'}`
        : `content does not match ${digest}: got ${actual.size} bytes with digest ${actual.digest ?? '?'}`,
    );
  }
}

/** An expected size that the streamed content did not have. */
export class BlobSizeError extends Error {
  override name = 'BlobSizeError';
  constructor(
    readonly expected: number,
    readonly actual: number,
    readonly digest?: Digest,
  ) {
    super(`content ${digest ? `for ${digest} ` : ''}has ${actual} bytes, expected ${expected}`);
  }
}

/** A name that is not in the store. */
export class ImageNotFoundError extends Error {
  override name = 'ImageNotFoundError';
  constructor(readonly ref: string) {
    super(`image ${JSON.stringify(ref)} not found in the local store`);
  }
}

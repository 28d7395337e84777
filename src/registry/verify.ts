import { type Readable, Transform, type TransformCallback } from 'node:stream';
import { type Digest, Digester, parseDigest } from '../image/digest.js';

export class DigestMismatchError extends Error {
  override name = 'DigestMismatchError';
}

/**
 * A pass-through that hashes what flows and fails at the end (instead of finishing) when the
 * bytes do not match the expected digest and size, so a consumer never commits bad content.
 */
export function verifying(expected: { digest: Digest; size?: number }, what = 'blob'): Transform {
  const digester = new Digester(parseDigest(expected.digest).algorithm);
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      digester.update(chunk);
      if (expected.size !== undefined && digester.size > expected.size) {
        cb(new DigestMismatchError(`${what} ${expected.digest}: more than the expected ${expected.size} bytes`));
        return;
      }
      cb(null, chunk);
    },
    flush(cb: TransformCallback) {
      if (expected.size !== undefined && digester.size !== expected.size) {
        cb(new DigestMismatchError(`${what} ${expected.digest}: got ${digester.size} bytes, expected ${expected.size}`));
        return;
      }
      const got = digester.digest();
      if (got !== expected.digest) cb(new DigestMismatchError(`${what} ${expected.digest}: content has digest ${got}`));
      else cb();
    },
  });
}

/** Counts bytes as they flow, through a pass-through so the consumer's own listeners miss nothing. */
export function counted(stream: Readable, onBytes?: (n: number) => void): Readable {
  if (!onBytes) return stream;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      onBytes(chunk.length);
      cb(null, chunk);
    },
  });
  stream.on('error', (e) => counter.destroy(e));
  counter.on('close', () => stream.destroy());
  return stream.pipe(counter);
}

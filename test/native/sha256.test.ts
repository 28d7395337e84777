import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { nativeSha256, PooledSha256 } from '../../src/native/pooled-sha256.js';
import { streamHash } from '../../src/store/stream-hash.js';

// The thread-pool sha256 (dist/native/sha256.node, built by `npm run build`) against Node's own.
const native = nativeSha256();
if (!native) console.warn('native sha256 not built (no C compiler or OpenSSL headers at npm run build): skipping its tests');

/** Chunks of assorted sizes, from empty to a few MiB, as a network or a tar writer hands them over. */
function chunks(): Buffer[] {
  const sizes = [0, 1, 63, 64, 65, 4096, 65536, 100_000, 1 << 20, 3 << 20, 17, 256 << 10, 7];
  return sizes.map((n) => randomBytes(n));
}

describe.skipIf(!native)('pooled sha256', () => {
  it('gives the digest createHash gives, for any chunking', async () => {
    for (let round = 0; round < 3; round++) {
      const parts = chunks().sort(() => Math.random() - 0.5);
      const pooled = new PooledSha256(native!);
      const reference = createHash('sha256');
      for (const p of parts) {
        pooled.update(p);
        reference.update(p);
      }
      expect(await pooled.hex()).toBe(reference.digest('hex'));
    }
    expect(await new PooledSha256(native!).hex()).toBe(createHash('sha256').digest('hex'));
  });

  it('counts what is left to hash and drains it', async () => {
    const pooled = new PooledSha256(native!);
    for (let i = 0; i < 16; i++) pooled.update(Buffer.alloc(1 << 20, i));
    expect(pooled.backlog()).toBeGreaterThan(0);
    await pooled.drain(1 << 20);
    expect(pooled.backlog()).toBeLessThanOrEqual(1 << 20);
    await pooled.drain();
    expect(pooled.backlog()).toBe(0);
  });

  it('copies a hasher mid-stream into an independent one (what a registry rolls a failed chunk back to)', async () => {
    const [a, b, c] = [randomBytes(3 << 20), randomBytes(1 << 20), randomBytes(5 << 20)];
    const pooled = new PooledSha256(native!);
    pooled.update(a);
    const copy = await pooled.copy();
    pooled.update(b);
    copy.update(c);
    expect(await pooled.hex()).toBe(createHash('sha256').update(a).update(b).digest('hex'));
    expect(await copy.hex()).toBe(createHash('sha256').update(a).update(c).digest('hex'));
    const h = native!.create();
    const running = native!.update(h, [Buffer.alloc(8 << 20)]);
    expect(() => native!.copy(h)).toThrow(/while an update is running/);
    await running;
  });

  it('refuses a second update on a hasher while one runs, and a digest meanwhile', async () => {
    const h = native!.create();
    const running = native!.update(h, [Buffer.alloc(8 << 20)]);
    expect(() => native!.update(h, [Buffer.from('x')])).toThrow(/already running/);
    expect(() => native!.digest(h)).toThrow(/while an update is running/);
    await running;
    expect(native!.digest(h).toString('hex')).toBe(createHash('sha256').update(Buffer.alloc(8 << 20)).digest('hex'));
    expect(() => native!.update(h, ['not bytes' as unknown as Uint8Array])).toThrow(/Uint8Arrays/);
  });
});

describe('stream hash', () => {
  it('hashes sha512 (never pooled) and sha256 alike to createHash', async () => {
    for (const algorithm of ['sha256', 'sha512'] as const) {
      const h = streamHash(algorithm);
      const reference = createHash(algorithm);
      for (const p of chunks()) {
        h.update(p);
        reference.update(p);
      }
      expect(await h.hex()).toBe(reference.digest('hex'));
    }
  });

  it('copies either kind of hash without disturbing the original', async () => {
    for (const algorithm of ['sha256', 'sha512'] as const) {
      const h = streamHash(algorithm);
      h.update(Buffer.from('shared '));
      const copy = await h.copy();
      h.update(Buffer.from('original'));
      copy.update(Buffer.from('copy'));
      expect(await h.hex()).toBe(createHash(algorithm).update('shared original').digest('hex'));
      expect(await copy.hex()).toBe(createHash(algorithm).update('shared copy').digest('hex'));
    }
  });
});

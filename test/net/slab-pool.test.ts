import { describe, expect, it } from 'vitest';
import { SlabPool } from '../../src/net/slab-pool.js';

describe('SlabPool', () => {
  it('reuses a slab only once it is sealed and every chunk cut from it is recycled', () => {
    const pool = new SlabPool(1024, 4);
    const a = pool.take();
    a.out = 2;
    const [x, y] = [a.buf.subarray(0, 10), a.buf.subarray(10, 20)];
    pool.recycle(x);
    pool.seal(a);
    expect(pool.take()).not.toBe(a); // one chunk still out
    pool.recycle(y);
    expect(pool.take()).toBe(a);
  });

  it('reuses a sealed slab that gave out nothing, and ignores chunks it does not own', () => {
    const pool = new SlabPool(1024, 4);
    const a = pool.take();
    a.out = 1;
    pool.recycle(Buffer.alloc(10));
    expect(a.out).toBe(1);
    pool.recycle(a.buf.subarray(0, 5));
    pool.seal(a);
    const b = pool.take();
    expect(b).toBe(a);
    expect([b.used, b.out, b.sealed]).toEqual([0, 0, false]);
    pool.seal(b);
    expect(pool.take()).toBe(a);
  });

  it('keeps at most `keep` free slabs', () => {
    const pool = new SlabPool(64, 1);
    const slabs = [pool.take(), pool.take(), pool.take()];
    for (const s of slabs) pool.seal(s);
    const again = [pool.take(), pool.take()];
    expect(again.filter((s) => slabs.includes(s))).toHaveLength(1);
  });
});

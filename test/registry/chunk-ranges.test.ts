import { describe, expect, it } from 'vitest';
import { chunkRanges } from '../../src/registry/client.js';

describe('chunkRanges', () => {
  const digest = (tail: string) => `sha256:${'0'.repeat(60)}${tail}` as const;

  it('covers the blob exactly, in order, with chunk-sized ranges after a first of half to one and a half chunks', () => {
    for (const [tail, size] of [['0000', 10_000], ['ffff', 10_000], ['8000', 99_999], ['1234', 1]] as const) {
      const ranges = chunkRanges({ digest: digest(tail), size }, 1000);
      expect(ranges[0]!.start).toBe(0);
      expect(ranges.at(-1)!.end).toBe(size - 1);
      for (let i = 1; i < ranges.length; i++) expect(ranges[i]!.start).toBe(ranges[i - 1]!.end + 1);
      const first = ranges[0]!.end + 1;
      if (size > 1500) {
        expect(first).toBeGreaterThanOrEqual(500);
        expect(first).toBeLessThanOrEqual(1500);
        for (const r of ranges.slice(1, -1)) expect(r.end - r.start + 1).toBe(1000);
      }
    }
  });

  it('staggers blobs with different digests', () => {
    const a = chunkRanges({ digest: digest('0000'), size: 10_000 }, 1000)[0]!.end;
    const b = chunkRanges({ digest: digest('ffff'), size: 10_000 }, 1000)[0]!.end;
    expect(a).not.toBe(b);
  });
});

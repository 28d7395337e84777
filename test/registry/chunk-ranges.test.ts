import { createHash } from 'node:crypto';
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startRegistry } from '../../registry-server/server.js';
import type { Digest } from '../../src/image/digest.js';
import { chunkRanges, RegistryClient } from '../../src/registry/client.js';
import { fileRanges } from '../../src/registry/file-chunks.js';
import { startFlakyProxy } from './flaky-proxy.js';
import { tempDir } from './helpers.js';

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

describe('chunked uploads by default', () => {
  const work = tempDir('chunks');
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('sends a big blob to a plain-HTTP registry in PATCH chunks of about 64 MiB', async () => {
    const size = (150 << 20) + 12345;
    const file = join(work, 'blob');
    const hash = createHash('sha256');
    const chunk = Buffer.alloc(1 << 20, 7);
    const fd = openSync(file, 'w');
    for (let left = size; left > 0; left -= chunk.length) {
      const part = chunk.subarray(0, Math.min(left, chunk.length));
      writeSync(fd, part);
      hash.update(part);
    }
    closeSync(fd);
    const digest: Digest = `sha256:${hash.digest('hex')}`;
    const reg = await startRegistry({ addr: '127.0.0.1:0', root: join(work, 'reg') });
    const proxy = await startFlakyProxy(reg.url, () => ({ kind: 'forward' }));
    const client = new RegistryClient();
    try {
      const repo = { registry: proxy.host, repository: 'big/blob' };
      await client.uploadBlob(repo, { digest, size }, fileRanges(file, size));
      const patches = proxy.seen.filter((s) => s.method === 'PATCH');
      expect(patches.length).toBe(chunkRanges({ digest, size }, 64 << 20).length);
      expect(patches.length).toBeGreaterThanOrEqual(2);
      expect(await client.headBlob(repo, digest)).toBe(size);
    } finally {
      await client.close();
      await proxy.close();
      await reg.close();
    }
  });
});

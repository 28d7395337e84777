import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Digest } from '../../src/image/digest.js';
import { RegistryClient } from '../../src/registry/client.js';
import { copyImage, parseLocation } from '../../src/registry/copy.js';
import { RegistryError } from '../../src/registry/errors.js';
import { type Fault, startFlakyProxy } from './flaky-proxy.js';
import { addLayers, makeBusybox, type RunningRegistry, startDistribution, tempDir } from './helpers.js';

// Two docker-registry instances: `a` behind a misbehaving proxy we write (node:http), `b` direct.
// Blob downloads go through undici's pool, or each on a connection of its own (bulkRequest).
describe.each([
  ['pooled', Number.POSITIVE_INFINITY],
  ['own-connection', 0],
])('retries, Range resume and verification through a flaky proxy (%s blob downloads)', (_mode, bulkMinBytes) => {
  let a: RunningRegistry;
  let b: RunningRegistry;
  let work: string;
  let multi: { digest: string; layers: string[] };
  const client = new RegistryClient({ transportOptions: { backoffMs: 5, maxBackoffMs: 50, retries: 5, bulkMinBytes } });

  beforeAll(async () => {
    [a, b] = await Promise.all([startDistribution(), startDistribution()]);
    work = tempDir('flaky');
    makeBusybox(`${work}/layout`);
    multi = await addLayers(`${work}/layout`, 2, 400_000);
    await copyImage(client, parseLocation(`oci:${work}/layout:multi`), parseLocation(`${a.host}/src/img:v1`));
  });
  afterAll(async () => {
    await client.close();
    await Promise.all([a?.close(), b?.close()]);
    rmSync(work, { recursive: true, force: true });
  });

  const isBlobGet = (method?: string, url?: string) => method === 'GET' && /\/blobs\/sha256:/.test(url ?? '');

  it('survives dropped connections, 503s and cut downloads (resumed with Range)', async () => {
    const cutOnce = new Set<string>();
    const proxy = await startFlakyProxy(a.url, (req, n): Fault => {
      if (n === 0) return { kind: 'drop' };
      if (n === 1) return { kind: 'status', status: 503, retryAfter: '0' };
      if (n === 2) return { kind: 'drop' };
      if (n === 3) return { kind: 'status', status: 429 };
      if (isBlobGet(req.method, req.url) && !req.headers.range && !cutOnce.has(req.url!)) {
        cutOnce.add(req.url!);
        return { kind: 'cut', bytes: 100_000 };
      }
      return { kind: 'forward' };
    });
    try {
      const sent = await copyImage(client, parseLocation(`${proxy.host}/src/img:v1`), parseLocation(`${b.host}/dst/img:v1`));
      expect(sent.digest).toBe(multi.digest);
      expect((await client.headManifest({ registry: b.host, repository: 'dst/img' }, 'v1'))?.digest).toBe(multi.digest);
      expect(proxy.seen.filter((s) => s.fault === 'drop')).toHaveLength(2);
      expect(proxy.seen.filter((s) => s.fault === 'cut').length).toBeGreaterThanOrEqual(2);
      // Every cut download came back with a Range request starting where it was cut.
      const resumed = proxy.seen.filter((s) => s.range);
      expect(resumed.length).toBeGreaterThanOrEqual(2);
      for (const r of resumed) expect(r.range).toBe('bytes=100000-');
    } finally {
      await proxy.close();
    }
  });

  it('resumes from a server that ignores Range by skipping what it already had', async () => {
    const cutOnce = new Set<string>();
    const proxy = await startFlakyProxy(a.url, (req): Fault => {
      if (!isBlobGet(req.method, req.url)) return { kind: 'forward' };
      if (req.headers.range) return { kind: 'ignore-range' };
      if (!cutOnce.has(req.url!)) {
        cutOnce.add(req.url!);
        return { kind: 'cut', bytes: 70_000 };
      }
      return { kind: 'forward' };
    });
    try {
      const layer = multi.layers[0] as Digest;
      const repo = { registry: proxy.host, repository: 'src/img' };
      const size = await client.headBlob(repo, layer);
      const { verifying } = await import('../../src/registry/verify.js');
      const stream = client.blobStream(repo, { digest: layer, size: size! }).pipe(verifying({ digest: layer, size: size! }));
      let n = 0;
      for await (const c of stream) n += (c as Buffer).length;
      expect(n).toBe(size);
      expect(proxy.seen.some((s) => s.fault === 'ignore-range')).toBe(true);
    } finally {
      await proxy.close();
    }
  });

  it('rejects a blob whose bytes do not match its digest and commits nothing', async () => {
    const bad = multi.layers[1]!;
    const proxy = await startFlakyProxy(a.url, (req): Fault => (req.method === 'GET' && req.url?.includes(bad) ? { kind: 'corrupt' } : { kind: 'forward' }));
    try {
      const err = await copyImage(client, parseLocation(`${proxy.host}/src/img:v1`), parseLocation(`${b.host}/bad/img:v1`)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect(String((err as Error).message)).toMatch(/digest|DIGEST_INVALID/);
      const dst = { registry: b.host, repository: 'bad/img' };
      expect(await client.headManifest(dst, 'v1')).toBeUndefined();
      expect(await client.headBlob(dst, bad as Digest)).toBeUndefined();
    } finally {
      await proxy.close();
    }
  });

  it('gives up after the bounded retries with an error naming the registry and the status', async () => {
    const proxy = await startFlakyProxy(a.url, (): Fault => ({ kind: 'status', status: 503 }));
    const impatient = new RegistryClient({ transportOptions: { backoffMs: 1, maxBackoffMs: 5, retries: 2 } });
    try {
      const err = await impatient.getManifest({ registry: proxy.host, repository: 'src/img' }, 'v1').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RegistryError);
      expect((err as RegistryError).status).toBe(503);
      expect((err as RegistryError).message).toContain(proxy.host);
      expect(proxy.seen).toHaveLength(3);
    } finally {
      await impatient.close();
      await proxy.close();
    }
  });
});

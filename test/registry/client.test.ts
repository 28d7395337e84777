import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Digest } from '../../src/image/digest.js';
import { parseReference } from '../../src/image/reference.js';
import { MemoryBlobSources } from '../../src/registry/blob-sources.js';
import { RegistryClient } from '../../src/registry/client.js';
import { copyImage, parseLocation } from '../../src/registry/copy.js';
import { RegistryError } from '../../src/registry/errors.js';
import type { Progress } from '../../src/registry/progress.js';
import { startFlakyProxy } from './flaky-proxy.js';
import { addIndex, addLayers, makeBusybox, type RunningRegistry, startDistribution, tempDir } from './helpers.js';

function recorder(): Progress & { statuses: Map<string, string> } {
  const statuses = new Map<string, string>();
  return { statuses, start() {}, advance() {}, done: (id, s) => statuses.set(id, s), close() {} };
}

describe('registry client against Debian docker-registry', () => {
  let reg: RunningRegistry;
  let work: string;
  let layout: string;
  let multi: { digest: string; layers: string[] };
  const client = new RegistryClient({ transportOptions: { backoffMs: 5 } });

  beforeAll(async () => {
    reg = await startDistribution();
    work = tempDir('client');
    layout = `${work}/layout`;
    makeBusybox(layout);
    multi = await addLayers(layout, 3, 250_000);
  });
  afterAll(async () => {
    await client.close();
    await reg?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('uploads in chunks when blobs are larger than the chunk size', async () => {
    const chunky = new RegistryClient({ chunkSize: 64 * 1024 });
    const proxy = await startFlakyProxy(reg.url, () => ({ kind: 'forward' }));
    try {
      const sent = await copyImage(chunky, parseLocation(`oci:${layout}:multi`), parseLocation(`${proxy.host}/chunked/img:v1`));
      expect(sent.digest).toBe(multi.digest);
      const patches = proxy.seen.filter((s) => s.method === 'PATCH');
      // 3 layers of ~250 kB in 64 KiB chunks, plus the ~1 MB busybox layer.
      expect(patches.length).toBeGreaterThanOrEqual(12);
      expect((await client.headManifest({ registry: reg.host, repository: 'chunked/img' }, 'v1'))?.digest).toBe(multi.digest);
    } finally {
      await chunky.close();
      await proxy.close();
    }
  });

  it('mounts blobs across repositories of one registry instead of uploading them', async () => {
    await copyImage(client, parseLocation(`oci:${layout}:multi`), parseLocation(`${reg.host}/mount/src:v1`));
    const progress = recorder();
    const sent = await copyImage(client, parseLocation(`${reg.host}/mount/src:v1`), parseLocation(`${reg.host}/mount/dst:v1`), { progress, sources: new MemoryBlobSources() });
    expect(sent.digest).toBe(multi.digest);
    for (const l of multi.layers) expect(progress.statuses.get(l)).toBe('Mounted from mount/src');
    // Everything present now: a second copy skips every layer.
    const again = recorder();
    await copyImage(client, parseLocation(`${reg.host}/mount/src:v1`), parseLocation(`${reg.host}/mount/dst:v2`), { progress: again });
    for (const l of multi.layers) expect(again.statuses.get(l)).toBe('Layer already exists');
    expect((await client.listTags({ registry: reg.host, repository: 'mount/dst' })).sort()).toEqual(['v1', 'v2']);
  });

  it('copies a multi-platform index with every platform, the index last', async () => {
    const idx = addIndex(layout, 'multiarch');
    const proxy = await startFlakyProxy(reg.url, () => ({ kind: 'forward' }));
    try {
      const sent = await copyImage(client, parseLocation(`oci:${layout}:multiarch`), parseLocation(`${proxy.host}/idx/img:v1`));
      expect(sent.digest).toBe(idx.digest);
      const puts = proxy.seen.filter((s) => s.method === 'PUT' && s.url.includes('/manifests/'));
      expect(puts.at(-1)!.url).toBe('/v2/idx/img/manifests/v1');
      for (const c of idx.children) expect(puts.some((p) => p.url === `/v2/idx/img/manifests/${c}`)).toBe(true);
      const got = await client.getManifest({ registry: reg.host, repository: 'idx/img' }, 'v1');
      expect(got.descriptor.digest).toBe(idx.digest);
      expect(got.descriptor.mediaType).toBe('application/vnd.oci.image.index.v1+json');

      // Only one platform, when asked: its manifest becomes the root.
      const one = await copyImage(client, parseLocation(`${reg.host}/idx/img:v1`), parseLocation(`${reg.host}/idx/arm:v1`), { platform: { os: 'linux', architecture: 'arm64' } });
      expect(one.digest).toBe(multi.digest);
    } finally {
      await proxy.close();
    }
  });

  it('names the registry and the spec error code when a manifest is unknown', async () => {
    const err = await client.getManifest({ registry: reg.host, repository: 'nope/nothing' }, 'v1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    const e = err as RegistryError;
    expect(e.status).toBe(404);
    expect(e.code).toMatch(/MANIFEST_UNKNOWN|NAME_UNKNOWN/);
    expect(e.message.startsWith(`${reg.host}: `)).toBe(true);
    expect(await client.headBlob({ registry: reg.host, repository: 'nope/nothing' }, `sha256:${'0'.repeat(64)}` as Digest)).toBeUndefined();
  });

  it('parses references the way docker does', () => {
    expect(parseReference('busybox')).toEqual({ registry: 'docker.io', repository: 'library/busybox', tag: 'latest' });
    expect(parseReference('index.docker.io/user/app:1')).toEqual({ registry: 'docker.io', repository: 'user/app', tag: '1' });
    expect(parseReference('localhost:5000/a/b')).toEqual({ registry: 'localhost:5000', repository: 'a/b', tag: 'latest' });
    const d = `sha256:${'a'.repeat(64)}`;
    expect(parseReference(`busybox:1.36@${d}`)).toEqual({ registry: 'docker.io', repository: 'library/busybox', tag: '1.36', digest: d });
    expect(() => parseReference('Busybox')).toThrow(/invalid reference/);
    expect(() => parseReference('busybox@sha256:abc')).toThrow(/invalid digest/);
  });
});

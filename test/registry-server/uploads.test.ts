import { mkdir, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RepoBlobStore } from '../../registry-server/blob-store.js';
import { uploadStartedPath } from '../../registry-server/layout.js';
import { FilesystemDriver } from '../../registry-server/storage/fs-driver.js';
import { MemoryDriver } from '../../registry-server/storage/memory-driver.js';
import { UploadStore } from '../../registry-server/upload-store.js';
import { http, imageManifest, pushBlob, sha256, tempDir, type TestRegistry, testRegistry } from './helpers.js';

describe('upload sessions', () => {
  it('expire when idle and are purged', async () => {
    const driver = new MemoryDriver();
    const uploads = new UploadStore(driver, new RepoBlobStore(driver));
    const stale = await uploads.start('r');
    const fresh = await uploads.start('r');
    await uploads.append('r', stale, Readable.from([Buffer.from('abc')]));
    driver.setModTime(uploadStartedPath('r', stale), new Date(Date.now() - 7200_000));
    driver.setModTime(`/repositories/r/_uploads/${stale}/data`, new Date(Date.now() - 7200_000));
    expect(await uploads.purge('r', 3600_000)).toBe(1);
    await expect(uploads.status('r', stale)).rejects.toMatchObject({ code: 'BLOB_UPLOAD_UNKNOWN' });
    expect(await uploads.status('r', fresh)).toBe(0);
  });

  it('a purge never takes a session that is still being created for an abandoned one', async () => {
    const dir = await tempDir();
    try {
      const driver = new FilesystemDriver(dir.path);
      const uploads = new UploadStore(driver, new RepoBlobStore(driver));
      // Another process is creating this session: its directory exists, its files do not yet.
      const creating = '0b8f5d55-3a52-4f1e-9a1e-4c3d2b1a0f9e';
      await mkdir(join(dir.path, 'repositories/r/_uploads', creating), { recursive: true });
      // One left behind by a crash long ago, with no files either.
      const abandoned = '1c9e6e66-4b63-4a2f-8b2f-5d4e3c2b1a0f';
      const old = join(dir.path, 'repositories/r/_uploads', abandoned);
      await mkdir(old, { recursive: true });
      await utimes(old, new Date(Date.now() - 7200_000), new Date(Date.now() - 7200_000));
      expect(await uploads.purge('r', 3600_000)).toBe(1);
      expect(await driver.list('/repositories/r/_uploads')).toEqual([creating]);
      // In this process, a start racing a purge that would take any idle session (TTL below zero).
      const ids = await Promise.all(Array.from({ length: 20 }, () => Promise.all([uploads.start('r'), uploads.purge('r', -1)]).then(([id]) => id)));
      for (const id of ids) expect(await uploads.status('r', id).catch((e: Error) => e.message)).toBe(0);
    } finally {
      await dir.cleanup();
    }
  });

  it('serialises concurrent chunks of one session', async () => {
    const driver = new MemoryDriver();
    const uploads = new UploadStore(driver, new RepoBlobStore(driver));
    const id = await uploads.start('r');
    const results = await Promise.allSettled([0, 1].map(() => uploads.append('r', id, Readable.from([Buffer.from('xyz')]), { start: 0, length: 3 })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(1);
    expect(await uploads.status('r', id)).toBe(3);
    expect(await uploads.finish('r', id, sha256('xyz'))).toBe(3);
  });
});

describe('concurrent pushes', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await testRegistry();
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it('of the same blob and the same tag are safe', async () => {
    const data = 'same content pushed many times '.repeat(5000);
    const digests = await Promise.all(Array.from({ length: 12 }, (_, i) => pushBlob(reg.url, `conc/r${i % 3}`, data)));
    expect(new Set(digests).size).toBe(1);
    for (let i = 0; i < 3; i++) expect((await http('GET', `${reg.url}/v2/conc/r${i}/blobs/${digests[0]}`)).text).toBe(data);
    const config = '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}';
    await pushBlob(reg.url, 'conc/r0', config);
    const manifests = Array.from({ length: 10 }, (_, i) => imageManifest(config, [], { annotations: { n: String(i) } }));
    const puts = await Promise.all(manifests.map((m) => http('PUT', `${reg.url}/v2/conc/r0/manifests/latest`, { body: m.bytes, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } })));
    expect(puts.every((p) => p.status === 201)).toBe(true);
    const got = await http('GET', `${reg.url}/v2/conc/r0/manifests/latest`);
    expect(manifests.map((m) => m.digest)).toContain(sha256(got.body));
    expect(got.headers['docker-content-digest']).toBe(sha256(got.body));
  });
});

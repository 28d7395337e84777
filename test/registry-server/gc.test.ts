import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { collectGarbage } from '../../registry-server/gc.js';
import { blobDataPath } from '../../registry-server/layout.js';
import { MemoryDriver } from '../../registry-server/storage/memory-driver.js';
import { http, pushBlob, pushImage, sha256, type TestRegistry, testRegistry } from './helpers.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

describe('garbage collection', () => {
  const regs: TestRegistry[] = [];
  afterAll(async () => {
    for (const r of regs) await r.stop();
  });

  it('sweeps unreferenced blobs, keeps referenced and young ones', async () => {
    const driver = new MemoryDriver();
    const reg = await testRegistry({ driver });
    regs.push(reg);
    const kept = await pushImage(reg.url, 'gc/app', 'v1', 'kept');
    const dropped = await pushImage(reg.url, 'gc/app', 'v2', 'dropped');
    const size = (await http('GET', `${reg.url}/v2/gc/app/manifests/v1`)).body.length;
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: OCI_MANIFEST, digest: kept.digest, size }] }));
    await http('PUT', `${reg.url}/v2/gc/app/manifests/multi`, { body: index, headers: { 'Content-Type': 'application/vnd.oci.image.index.v1+json' } });
    // Every manifest revision is a root; a deleted one no longer protects its blobs.
    expect((await http('DELETE', `${reg.url}/v2/gc/app/manifests/${dropped.digest}`)).status).toBe(202);
    const young = await pushBlob(reg.url, 'gc/app', 'pushed just now, manifest not yet written');
    const old = new Date(Date.now() - 2 * 3600_000);
    const droppedBlobs = [dropped.digest, sha256(dropped.config), ...dropped.layers.map((l) => sha256(l))];
    for (const d of [...droppedBlobs, kept.digest, sha256(kept.config), ...kept.layers.map((l) => sha256(l))]) driver.setModTime(blobDataPath(d as `sha256:${string}`), old);

    const dry = await collectGarbage(driver, { dryRun: true });
    expect(dry.deleted.sort()).toEqual([...droppedBlobs].sort());
    expect((await http('GET', `${reg.url}/v2/gc/app/blobs/${sha256(dropped.layers[0]!)}`)).status).toBe(200);

    const r = await collectGarbage(driver);
    expect(r.deleted.sort()).toEqual([...droppedBlobs].sort());
    expect(r.spared).toBe(1);
    expect((await http('GET', `${reg.url}/v2/gc/app/blobs/${sha256(dropped.layers[0]!)}`)).status).toBe(404);
    expect((await http('GET', `${reg.url}/v2/gc/app/blobs/${young}`)).status).toBe(200);
    for (const ref of ['v1', 'multi', kept.digest]) expect((await http('GET', `${reg.url}/v2/gc/app/manifests/${ref}`)).status).toBe(200);
    for (const b of [kept.config, ...kept.layers]) expect((await http('GET', `${reg.url}/v2/gc/app/blobs/${sha256(b)}`)).text).toBe(b);
    // With a zero grace period the young orphan goes too.
    expect((await collectGarbage(driver, { gracePeriodMs: 0 })).deleted).toEqual([young]);
  });

  it('tsbuild registry gc --dry-run and gc over a directory', async () => {
    const reg = await testRegistry();
    regs.push(reg);
    await pushImage(reg.url, 'cli/app', 'v1', 'cli');
    const orphan = await pushBlob(reg.url, 'cli/app', 'orphan blob');
    await reg.close();
    const run = async (...args: string[]) => {
      let out = '';
      const stdout = new Writable({ write: (c, _e, cb) => ((out += String(c)), cb()) });
      const code = await main(['registry', 'gc', '--root', reg.root, ...args], { stdout, stderr: stdout, env: { HOME: '/nonexistent' } });
      return { code, out };
    };
    const dry = await run('--dry-run', '--grace', '0s');
    expect(dry.code).toBe(0);
    expect(dry.out).toContain(`would delete ${orphan}`);
    expect(dry.out).toMatch(/4 blobs referenced, 1 to delete/);
    const young = await run();
    expect(young.out).toMatch(/0 deleted .* 1 kept for the grace period/);
    const real = await run('--grace', '0');
    expect(real.out).toContain(`deleted ${orphan}`);
    expect((await run('--grace', '0')).out).toMatch(/0 deleted/);
    expect((await run('--grace', 'soon')).code).toBe(2);
  });

  it('removes the links repositories hold to the blobs it sweeps', async () => {
    const driver = new MemoryDriver();
    const reg = await testRegistry({ driver });
    regs.push(reg);
    const orphan = await pushBlob(reg.url, 'gc/a', 'orphan in two repositories');
    expect((await http('POST', `${reg.url}/v2/gc/b/blobs/uploads/?mount=${orphan}&from=gc/a`)).status).toBe(201);
    const kept = await pushImage(reg.url, 'gc/a', 'v1', 'links');
    const hex = orphan.slice('sha256:'.length);

    const dry = await collectGarbage(driver, { gracePeriodMs: 0, dryRun: true });
    expect(dry.deleted).toEqual([orphan]);
    expect(dry.unlinked).toBe(2);
    expect(await driver.list('/repositories/gc/a/_layers/sha256')).toContain(hex);

    const r = await collectGarbage(driver, { gracePeriodMs: 0 });
    expect(r.deleted).toEqual([orphan]);
    expect(r.unlinked).toBe(2);
    for (const repo of ['gc/a', 'gc/b']) {
      expect(await driver.list(`/repositories/${repo}/_layers/sha256`), repo).not.toContain(hex);
      expect((await http('HEAD', `${reg.url}/v2/${repo}/blobs/${orphan}`)).status).toBe(404);
    }
    // The same bytes pushed again elsewhere must not reappear in the repositories that lost them.
    await pushBlob(reg.url, 'gc/c', 'orphan in two repositories');
    for (const repo of ['gc/a', 'gc/b']) expect((await http('HEAD', `${reg.url}/v2/${repo}/blobs/${orphan}`)).status, repo).toBe(404);
    expect((await http('HEAD', `${reg.url}/v2/gc/c/blobs/${orphan}`)).status).toBe(200);
    // Everything still referenced keeps its links.
    for (const b of [kept.config, ...kept.layers]) expect((await http('HEAD', `${reg.url}/v2/gc/a/blobs/${sha256(b)}`)).status).toBe(200);
    // Dangling links left behind by an older collector are cleaned up too.
    await driver.putContent('/repositories/gc/a/_layers/sha256/' + 'f'.repeat(64) + '/link', Buffer.from(`sha256:${'f'.repeat(64)}`));
    // (Default grace period: the blob just pushed to gc/c is young and keeps its link.)
    expect((await collectGarbage(driver)).unlinked).toBe(1);
    expect(await driver.list('/repositories/gc/a/_layers/sha256')).not.toContain('f'.repeat(64));
  });
});

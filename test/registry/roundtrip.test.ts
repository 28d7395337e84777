import { rmSync } from 'node:fs';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry } from '../../registry-server/server.js';
import { main } from '../../src/cli/main.js';
import type { Digest } from '../../src/image/digest.js';
import { parseReference } from '../../src/image/reference.js';
import { RegistryClient } from '../../src/registry/client.js';
import { copyImage, parseLocation } from '../../src/registry/copy.js';
import { pull } from '../../src/registry/pull.js';
import { push } from '../../src/registry/push.js';
import { openStore } from '../../src/store/store.js';
import { startFlakyProxy } from './flaky-proxy.js';
import { addIndex, addLayers, makeBusybox, type RunningRegistry, startDistribution, tempDir } from './helpers.js';

async function cli(argv: string[], env: NodeJS.ProcessEnv) {
  let stdout = '';
  let stderr = '';
  const w = (f: (s: string) => void) => new Writable({ write: (c, _e, cb) => (f(String(c)), cb()) });
  const code = await main(argv, { stdout: w((s) => (stdout += s)), stderr: w((s) => (stderr += s)), env });
  return { code, stdout, stderr };
}

let work: string;
let layout: string;
let multi: { digest: string; layers: string[] };

beforeAll(async () => {
  work = tempDir('rt');
  layout = `${work}/layout`;
  makeBusybox(layout);
  multi = await addLayers(layout, 3, 300_000);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const servers: [string, () => Promise<Pick<RunningRegistry, 'host' | 'close'> & { url: string }>][] = [
  ['Debian docker-registry', () => startDistribution()],
  ['our registry server', async () => startRegistry({ addr: '127.0.0.1:0', root: `${work}/ours-${Date.now()}` })],
];

for (const [label, start] of servers) {
  describe(`push/pull round trip against ${label}`, () => {
    let reg: Awaited<ReturnType<typeof start>>;
    const client = new RegistryClient({ transportOptions: { backoffMs: 5 } });
    beforeAll(async () => {
      reg = await start();
    });
    afterAll(async () => {
      await client.close();
      await reg?.close();
    });

    it('copies a multi-layer image in, pulls it into the store and pushes it out with identical digests', async () => {
      const sent = await copyImage(client, parseLocation(`oci:${layout}:multi`), parseLocation(`${reg.host}/test/multi:v1`));
      expect(sent.digest).toBe(multi.digest);

      const store = await openStore(`${work}/store-${label.length}-${Date.now()}`);
      const pulled = await pull(client, store, parseReference(`${reg.host}/test/multi:v1`));
      expect(pulled.digest).toBe(multi.digest);
      expect(pulled.manifest.digest).toBe(multi.digest);
      expect(pulled.name).toBe(`${reg.host}/test/multi:v1`);
      for (const l of multi.layers) expect(await store.blobs.has(l as Digest)).toBe(true);
      expect((await store.images.get(pulled.name!))?.target.digest).toBe(multi.digest);
      expect((await pull(client, store, parseReference(`${reg.host}/test/multi:v1`))).downloaded).toBe(0);

      const pushed = await push(client, store, `${reg.host}/test/multi:v1`, parseReference(`${reg.host}/other/copy:v2`));
      expect(pushed).toEqual({ tag: 'v2', digest: multi.digest, size: expect.any(Number) });
      expect((await client.headManifest({ registry: reg.host, repository: 'other/copy' }, 'v2'))?.digest).toBe(multi.digest);
    });

    it('tsbuild push and tsbuild pull print what docker prints', async () => {
      const env = { HOME: work, DOCKER_CONFIG: `${work}/no-docker`, PATH: process.env.PATH };
      const root = `${work}/cli-store-${label.length}`;
      const p = await cli(['--root', root, 'pull', `${reg.host}/test/multi:v1`], env);
      expect(p.stderr).toBe('');
      expect(p.code).toBe(0);
      expect(p.stdout).toContain('v1: Pulling from test/multi');
      for (const l of multi.layers) expect(p.stdout).toContain(`${l.slice(7, 19)}: Pull complete`);
      expect(p.stdout).toContain(`Digest: ${multi.digest}`);
      expect(p.stdout).toContain(`Status: Downloaded newer image for ${reg.host}/test/multi:v1`);

      const q = await cli(['--root', root, 'push', `${reg.host}/test/multi:v1`, `${reg.host}/cli/pushed:latest`], env);
      expect(q.stderr).toBe('');
      expect(q.code).toBe(0);
      expect(q.stdout).toContain(`The push refers to repository [${reg.host}/cli/pushed]`);
      expect(q.stdout).toMatch(new RegExp(`latest: digest: ${multi.digest} size: \\d+\\n$`));
    });
  });
}

describe('pull details (Debian docker-registry)', () => {
  let reg: RunningRegistry;
  const client = new RegistryClient({ transportOptions: { backoffMs: 5 } });
  let idx: { digest: string; children: string[] };
  beforeAll(async () => {
    reg = await startDistribution();
    idx = addIndex(layout, 'multiarch');
    await copyImage(client, parseLocation(`oci:${layout}:multi`), parseLocation(`${reg.host}/d/multi:v1`));
    await copyImage(client, parseLocation(`oci:${layout}:multiarch`), parseLocation(`${reg.host}/d/multi:arch`));
  });
  afterAll(async () => {
    await client.close();
    await reg?.close();
  });

  it('stores nothing of a blob whose bytes do not match its digest, and no name', async () => {
    const bad = multi.layers[2]!;
    const proxy = await startFlakyProxy(reg.url, (req) => (req.method === 'GET' && req.url?.includes(bad) ? { kind: 'corrupt' } : { kind: 'forward' }));
    const store = await openStore(`${work}/store-bad`);
    try {
      const err = await pull(client, store, parseReference(`${proxy.host}/d/multi:v1`)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect(await store.blobs.has(bad as Digest)).toBe(false);
      expect(await store.blobs.has(multi.digest as Digest)).toBe(false);
      expect(await store.images.get(`${proxy.host}/d/multi:v1`)).toBeUndefined();
    } finally {
      await proxy.close();
    }
  });

  it('resolves an index to the host platform, or to --platform', async () => {
    const store = await openStore(`${work}/store-platform`);
    const host = await pull(client, store, parseReference(`${reg.host}/d/multi:arch`), { platform: { os: 'linux', architecture: 'amd64' } });
    expect(host.digest).toBe(idx.digest);
    expect(host.manifest.digest).toBe(idx.children[0]);
    expect(host.manifest.platform).toEqual({ os: 'linux', architecture: 'amd64' });
    const arm = await pull(client, store, parseReference(`${reg.host}/d/multi:arch`), { platform: { os: 'linux', architecture: 'arm64' } });
    expect(arm.manifest.digest).toBe(multi.digest);
    expect((await store.images.get(`${reg.host}/d/multi:arch`))?.target.digest).toBe(multi.digest);
    const none = await pull(client, store, parseReference(`${reg.host}/d/multi:arch`), { platform: { os: 'linux', architecture: 's390x' } }).catch((e: unknown) => e);
    expect(String(none)).toContain('no manifest for linux/s390x (has: linux/amd64, linux/arm64)');
  });

  it('pulls by digest without naming anything', async () => {
    const store = await openStore(`${work}/store-digest`);
    const r = await pull(client, store, parseReference(`${reg.host}/d/multi@${multi.digest}`));
    expect(r.name).toBeUndefined();
    expect(r.manifest.digest).toBe(multi.digest);
    expect(await store.blobs.has(multi.digest as Digest)).toBe(true);
    expect(await store.images.list()).toEqual([]);
  });
});

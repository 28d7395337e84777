// Cross-repository mounts as the OCI conformance suite checks them (its OCI_AUTOMATIC_CROSSMOUNT
// cases): `from` names the source; without a usable `from` the registry MAY mount a blob it can
// find ("automatic content discovery"), and when it does not, it MUST fall back to an upload (202).
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, pushBlob, sha256, tempDir, type TestRegistry, testRegistry } from './helpers.js';

const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

describe('cross-repository mounts', () => {
  const regs: TestRegistry[] = [];
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let htpasswd: string;
  beforeAll(async () => {
    dir = await tempDir();
    htpasswd = join(dir.path, 'htpasswd');
    await writeFile(htpasswd, execFileSync('htpasswd', ['-Bbn', 'alice', 'pw'], { encoding: 'utf8' }));
  });
  afterAll(async () => {
    for (const r of regs) await r.stop();
    await dir?.cleanup();
  });
  const start = async (o: Parameters<typeof testRegistry>[0] = {}) => {
    const r = await testRegistry(o);
    regs.push(r);
    return r;
  };

  it('mounts with from, and without from when automatic mounting is on (the default)', async () => {
    const reg = await start();
    const d = await pushBlob(reg.url, 'mnt/src', 'shared layer');
    const withFrom = await http('POST', `${reg.url}/v2/mnt/a/blobs/uploads/?mount=${d}&from=mnt/src`);
    expect(withFrom.status).toBe(201);
    expect(withFrom.headers.location).toBe(`/v2/mnt/a/blobs/${d}`);
    // No from at all, and a from that lacks the blob: both found elsewhere and mounted.
    for (const [repo, query] of [
      ['mnt/b', `mount=${d}`],
      ['mnt/c', `mount=${d}&from=mnt/empty`],
    ] as const) {
      const r = await http('POST', `${reg.url}/v2/${repo}/blobs/uploads/?${query}`);
      expect(r.status, repo).toBe(201);
      expect(r.headers.location).toBe(`/v2/${repo}/blobs/${d}`);
      expect(r.headers['docker-content-digest']).toBe(d);
      expect((await http('GET', `${reg.url}/v2/${repo}/blobs/${d}`)).text).toBe('shared layer');
    }
    // A blob the registry does not have: an upload session instead.
    const missing = sha256('never pushed');
    const r = await http('POST', `${reg.url}/v2/mnt/d/blobs/uploads/?mount=${missing}`);
    expect(r.status).toBe(202);
    expect(r.headers.location).toMatch(/^\/v2\/mnt\/d\/blobs\/uploads\/[0-9a-f-]{36}$/);
    expect((await http('HEAD', `${reg.url}/v2/mnt/d/blobs/${missing}`)).status).toBe(404);
  });

  it('without automatic mounting, a mount without from is an upload even if the blob is there', async () => {
    const reg = await start({ automaticMount: false });
    const d = await pushBlob(reg.url, 'mnt/src', 'layer');
    expect((await http('POST', `${reg.url}/v2/mnt/dst/blobs/uploads/?mount=${d}&from=mnt/src`)).status).toBe(201);
    // Now in mnt/dst as well, yet no from: 202, as the conformance suite expects of such a registry.
    const again = await http('POST', `${reg.url}/v2/mnt/dst/blobs/uploads/?mount=${d}`);
    expect(again.status).toBe(202);
    expect(again.headers.location).toMatch(/^\/v2\/mnt\/dst\/blobs\/uploads\//);
    expect((await http('POST', `${reg.url}/v2/mnt/other/blobs/uploads/?mount=${d}`)).status).toBe(202);
    expect((await http('HEAD', `${reg.url}/v2/mnt/other/blobs/${d}`)).status).toBe(404);
  });

  it('token mode: the challenge asks for pull on from; automatic mounts only reach what the token may pull', async () => {
    const reg = await start({ htpasswd, auth: 'token' });
    const token = async (...scopes: string[]) =>
      (await http('GET', `${reg.url}/token?service=tsbuild-registry&${scopes.map((s) => `scope=${s}`).join('&')}`, { headers: { Authorization: basic('alice', 'pw') } })).json()
        .token as string;
    const src = await token('repository:src/x:pull,push');
    const data = 'private layer';
    const d = sha256(data);
    expect((await http('POST', `${reg.url}/v2/src/x/blobs/uploads/?digest=${d}`, { body: data, headers: { Authorization: `Bearer ${src}` } })).status).toBe(201);

    // A client following this challenge gets a token that can mount.
    const anon = await http('POST', `${reg.url}/v2/dst/y/blobs/uploads/?mount=${d}&from=src/x`);
    expect(anon.status).toBe(401);
    expect(anon.headers['www-authenticate']).toBe(`Bearer realm="${reg.url}/token",service="tsbuild-registry",scope="repository:dst/y:pull,push repository:src/x:pull"`);

    // Push on the target only: no mount, from or not, and nothing revealed about src/x.
    const onlyDst = await token('repository:dst/y:pull,push');
    for (const q of [`mount=${d}`, `mount=${d}&from=src/x`]) {
      expect((await http('POST', `${reg.url}/v2/dst/y/blobs/uploads/?${q}`, { headers: { Authorization: `Bearer ${onlyDst}` } })).status, q).toBe(202);
    }
    // Pull on the source as well: mounted even without from.
    const both = await token('repository:dst/y:pull,push', 'repository:src/x:pull');
    const r = await http('POST', `${reg.url}/v2/dst/y/blobs/uploads/?mount=${d}`, { headers: { Authorization: `Bearer ${both}` } });
    expect(r.status).toBe(201);
    expect((await http('GET', `${reg.url}/v2/dst/y/blobs/${d}`, { headers: { Authorization: `Bearer ${onlyDst}` } })).text).toBe(data);
  });
});

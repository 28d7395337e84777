// Tags as the OCI conformance suite checks them: `?tag=` parameters on a push by digest (answered
// with OCI-Tag headers; the only way to tag a sha512 manifest), and NAME_UNKNOWN from the tag list
// of a repository that does not exist, even when its name is a prefix of one that does.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCode, http, imageManifest, pushBlob, pushImage, type TestRegistry, testRegistry } from './helpers.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

describe('tags', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await testRegistry();
  });
  afterAll(async () => {
    await reg?.stop();
  });

  const pushParts = async (repo: string, seed: string) => {
    const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, seed });
    await pushBlob(reg.url, repo, config);
    await pushBlob(reg.url, repo, `layer-${seed}`);
    return imageManifest(config, [`layer-${seed}`]);
  };

  it('push by digest with tag parameters sets every tag and names them in OCI-Tag', async () => {
    const m = await pushParts('tp/app', 'one');
    const r = await http('PUT', `${reg.url}/v2/tp/app/manifests/${m.digest}?tag=1.2.3&tag=1.2&tag=latest&tag=1.2`, { body: m.bytes, headers: { 'Content-Type': OCI_MANIFEST } });
    expect(r.status).toBe(201);
    expect(r.headers['docker-content-digest']).toBe(m.digest);
    const announced = String(r.headers['oci-tag'])
      .split(',')
      .map((t) => t.trim());
    expect(announced).toEqual(['1.2.3', '1.2', 'latest']);
    for (const tag of announced) {
      const g = await http('GET', `${reg.url}/v2/tp/app/manifests/${tag}`);
      expect(g.status, tag).toBe(200);
      expect(g.headers['docker-content-digest']).toBe(m.digest);
    }
    expect((await http('GET', `${reg.url}/v2/tp/app/tags/list`)).json().tags).toEqual(['1.2', '1.2.3', 'latest']);
  });

  it('a sha512 manifest is tagged through tag parameters and keeps its sha512 digest', async () => {
    const m = await pushParts('tp/sha512', 'two');
    const d = `sha512:${createHash('sha512').update(m.bytes).digest('hex')}`;
    const r = await http('PUT', `${reg.url}/v2/tp/sha512/manifests/${d}?tag=v1`, { body: m.bytes, headers: { 'Content-Type': OCI_MANIFEST } });
    expect(r.status).toBe(201);
    expect(r.headers['oci-tag']).toBe('v1');
    for (const ref of ['v1', d]) {
      const g = await http('GET', `${reg.url}/v2/tp/sha512/manifests/${ref}`);
      expect(g.status, ref).toBe(200);
      expect(g.headers['docker-content-digest']).toBe(d);
      expect(g.body.equals(m.bytes)).toBe(true);
    }
  });

  it('an invalid tag parameter rejects the push and stores nothing', async () => {
    const m = await pushParts('tp/bad', 'three');
    const r = await http('PUT', `${reg.url}/v2/tp/bad/manifests/${m.digest}?tag=ok&tag=-bad`, { body: m.bytes, headers: { 'Content-Type': OCI_MANIFEST } });
    expect(r.status).toBe(400);
    expect(errorCode(r)).toBe('MANIFEST_INVALID');
    expect((await http('HEAD', `${reg.url}/v2/tp/bad/manifests/${m.digest}`)).status).toBe(404);
    expect((await http('HEAD', `${reg.url}/v2/tp/bad/manifests/ok`)).status).toBe(404);
    const many = Array.from({ length: 101 }, (_, i) => `tag=t${i}`).join('&');
    expect((await http('PUT', `${reg.url}/v2/tp/bad/manifests/${m.digest}?${many}`, { body: m.bytes, headers: { 'Content-Type': OCI_MANIFEST } })).status).toBe(414);
    expect((await http('GET', `${reg.url}/v2/tp/bad/tags/list`)).json().tags).toEqual([]);
  });

  it('tag list of an unknown repository is 404 NAME_UNKNOWN, prefixes and upload-only names included', async () => {
    await pushImage(reg.url, 'known/deep/repo', 'v1', 'known');
    const upload = await http('POST', `${reg.url}/v2/known/uploading/blobs/uploads/`);
    expect(upload.status).toBe(202);
    for (const name of ['never/pushed', 'known', 'known/deep', 'known/uploading']) {
      const r = await http('GET', `${reg.url}/v2/${name}/tags/list`);
      expect(r.status, name).toBe(404);
      expect(errorCode(r)).toBe('NAME_UNKNOWN');
    }
    const ok = await http('GET', `${reg.url}/v2/known/deep/repo/tags/list`);
    expect(ok.status).toBe(200);
    expect(ok.json()).toEqual({ name: 'known/deep/repo', tags: ['v1'] });
  });
});

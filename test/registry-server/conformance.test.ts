// The distribution-spec v1.1 workflows (pull, push, content discovery, content management), status
// codes and error codes included, run against the in-process server over both storage drivers.
// The official conformance suite (a Go program) is run by hand; what it checks is encoded here
// and in mount.test.ts and tags.test.ts so that CI checks it without Go.
import { randomBytes } from 'node:crypto';
import { Agent, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryDriver } from '../../registry-server/storage/memory-driver.js';
import { errorCode, http, imageManifest, pushBlob, pushImage, sha256, type TestRegistry, testRegistry } from './helpers.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

/** Sends raw bytes and half-closes, as a client that dies mid-body does. */
function rawRequest(host: string, text: string | Buffer, opts: { hangUp?: boolean } = {}): Promise<string> {
  const [h, p] = host.split(':');
  return new Promise((resolve, reject) => {
    const s = connect(Number(p), h!, () => {
      s.write(text);
      if (opts.hangUp) s.destroy();
    });
    let out = '';
    s.on('data', (c) => (out += c.toString()));
    s.on('end', () => resolve(out));
    s.on('close', () => resolve(out));
    s.on('error', (e) => (opts.hangUp ? resolve(out) : reject(e)));
    if (!opts.hangUp) setTimeout(() => s.end(), 200).unref();
  });
}

describe.each([
  ['filesystem', () => ({})],
  ['memory', () => ({ driver: new MemoryDriver() })],
])('distribution spec on the %s driver', (_name, driverOpts) => {
  let reg: TestRegistry;
  let base: string;
  beforeAll(async () => {
    reg = await testRegistry(driverOpts());
    base = reg.url;
  });
  afterAll(async () => {
    await reg?.stop();
  });

  describe('pull', () => {
    let img: Awaited<ReturnType<typeof pushImage>>;
    beforeAll(async () => {
      img = await pushImage(base, 'pull/test', 'v1', 'pull');
    });

    it('answers GET /v2/ with the API version header', async () => {
      const r = await http('GET', `${base}/v2/`);
      expect(r.status).toBe(200);
      expect(r.headers['docker-distribution-api-version']).toBe('registry/2.0');
    });

    it('serves manifests by tag and by digest, GET and HEAD', async () => {
      for (const ref of ['v1', img.digest]) {
        const g = await http('GET', `${base}/v2/pull/test/manifests/${ref}`, { headers: { Accept: OCI_MANIFEST } });
        expect(g.status).toBe(200);
        expect(g.headers['content-type']).toBe(OCI_MANIFEST);
        expect(g.headers['docker-content-digest']).toBe(img.digest);
        expect(sha256(g.body)).toBe(img.digest);
        const h = await http('HEAD', `${base}/v2/pull/test/manifests/${ref}`);
        expect(h.status).toBe(200);
        expect(Number(h.headers['content-length'])).toBe(g.body.length);
        expect(h.body.length).toBe(0);
      }
    });

    it('404 MANIFEST_UNKNOWN for unknown tags, digests and repositories', async () => {
      for (const url of [`/v2/pull/test/manifests/nope`, `/v2/pull/test/manifests/${sha256('x')}`, `/v2/no/such/manifests/v1`]) {
        const r = await http('GET', base + url);
        expect(r.status, url).toBe(404);
        expect(errorCode(r)).toBe('MANIFEST_UNKNOWN');
        expect((await http('HEAD', base + url)).status).toBe(404);
      }
    });

    it('serves blobs with digest, length and ranges', async () => {
      const layer = img.layers[0]!;
      const d = sha256(layer);
      const g = await http('GET', `${base}/v2/pull/test/blobs/${d}`);
      expect(g.status).toBe(200);
      expect(g.text).toBe(layer);
      expect(g.headers['docker-content-digest']).toBe(d);
      const h = await http('HEAD', `${base}/v2/pull/test/blobs/${d}`);
      expect(h.status).toBe(200);
      expect(Number(h.headers['content-length'])).toBe(layer.length);
      const r = await http('GET', `${base}/v2/pull/test/blobs/${d}`, { headers: { Range: 'bytes=2-5' } });
      expect(r.status).toBe(206);
      expect(r.text).toBe(layer.slice(2, 6));
      expect(r.headers['content-range']).toBe(`bytes 2-5/${layer.length}`);
      const suffix = await http('GET', `${base}/v2/pull/test/blobs/${d}`, { headers: { Range: 'bytes=-3' } });
      expect(suffix.text).toBe(layer.slice(-3));
      const open = await http('GET', `${base}/v2/pull/test/blobs/${d}`, { headers: { Range: 'bytes=4-' } });
      expect(open.text).toBe(layer.slice(4));
      const bad = await http('GET', `${base}/v2/pull/test/blobs/${d}`, { headers: { Range: `bytes=${layer.length + 10}-` } });
      expect(bad.status).toBe(416);
      expect(bad.headers['content-range']).toBe(`bytes */${layer.length}`);
    });

    it('serves a big blob whole and by range, twice on one kept-alive connection', async () => {
      // Past the size where the filesystem driver's blobs go out by sendfile, the body bypassing the response stream.
      const big = randomBytes(3 << 20);
      const d = await pushBlob(base, 'pull/big', big);
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      const get = (range?: string) =>
        new Promise<{ status: number; body: Buffer; reused: boolean }>((resolve, reject) => {
          const req = httpRequest(`${base}/v2/pull/big/blobs/${d}`, { agent, headers: range ? { range } : {} }, (res) => {
            const parts: Buffer[] = [];
            res.on('data', (c: Buffer) => parts.push(c));
            res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(parts), reused: req.reusedSocket }));
          });
          req.on('error', reject).end();
        });
      try {
        const whole = await get();
        expect(whole.status).toBe(200);
        expect(whole.body.equals(big)).toBe(true);
        const part = await get('bytes=1048570-2097159');
        expect(part.status).toBe(206);
        expect(part.body.equals(big.subarray(1048570, 2097160))).toBe(true);
        expect(part.reused).toBe(true);
        const again = await get();
        expect(again.body.equals(big)).toBe(true);
      } finally {
        agent.destroy();
      }
    });

    it('404 BLOB_UNKNOWN for blobs not in the repository, even if stored for another', async () => {
      const r = await http('GET', `${base}/v2/pull/test/blobs/${sha256('missing')}`);
      expect(r.status).toBe(404);
      expect(errorCode(r)).toBe('BLOB_UNKNOWN');
      const other = await http('HEAD', `${base}/v2/other/repo/blobs/${sha256(img.layers[0]!)}`);
      expect(other.status).toBe(404);
    });

    it('400 DIGEST_INVALID for malformed digests', async () => {
      const r = await http('GET', `${base}/v2/pull/test/blobs/sha256:xyz`);
      expect(r.status).toBe(400);
      expect(errorCode(r)).toBe('DIGEST_INVALID');
    });
  });

  describe('push', () => {
    it('POST then PUT with the whole body', async () => {
      const data = 'monolithic via put';
      const p = await http('POST', `${base}/v2/push/a/blobs/uploads/`);
      expect(p.status).toBe(202);
      const loc = p.headers.location as string;
      expect(loc).toMatch(/^\/v2\/push\/a\/blobs\/uploads\/[0-9a-f-]{36}$/);
      expect(p.headers['docker-upload-uuid']).toBeTruthy();
      const d = sha256(data);
      const put = await http('PUT', `${base}${loc}?digest=${d}`, { body: data, headers: { 'Content-Type': 'application/octet-stream' } });
      expect(put.status).toBe(201);
      expect(put.headers.location).toBe(`/v2/push/a/blobs/${d}`);
      expect(put.headers['docker-content-digest']).toBe(d);
      expect((await http('GET', `${base}/v2/push/a/blobs/${d}`)).text).toBe(data);
    });

    it('POST ?digest= monolithic upload', async () => {
      const d = await pushBlob(base, 'push/a', 'single post');
      expect((await http('GET', `${base}/v2/push/a/blobs/${d}`)).text).toBe('single post');
    });

    it('empty blobs', async () => {
      const d = await pushBlob(base, 'push/a', '');
      const h = await http('HEAD', `${base}/v2/push/a/blobs/${d}`);
      expect(h.status).toBe(200);
      expect(h.headers['content-length']).toBe('0');
    });

    it('chunked upload with Content-Range, status, 416 on gaps, final PUT', async () => {
      const parts = ['first chunk|', 'second chunk|', 'last'];
      const all = parts.join('');
      const p = await http('POST', `${base}/v2/push/chunked/blobs/uploads/`);
      let loc = p.headers.location as string;
      let off = 0;
      for (const part of parts.slice(0, 2)) {
        const r = await http('PATCH', base + loc, { body: part, headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${off}-${off + part.length - 1}` } });
        expect(r.status).toBe(202);
        off += part.length;
        expect(r.headers.range).toBe(`0-${off - 1}`);
        loc = r.headers.location as string;
      }
      const st = await http('GET', base + loc);
      expect(st.status).toBe(204);
      expect(st.headers.range).toBe(`0-${off - 1}`);
      // A gap, an overlap and a malformed range are all refused and change nothing.
      for (const range of [`${off + 5}-${off + 8}`, `0-3`, 'abc']) {
        const gap = await http('PATCH', base + loc, { body: 'xxxx', headers: { 'Content-Range': range } });
        expect(gap.status, range).toBe(416);
      }
      expect((await http('GET', base + loc)).headers.range).toBe(`0-${off - 1}`);
      const d = sha256(all);
      const fin = await http('PUT', `${base}${loc}?digest=${d}`, { body: parts[2]!, headers: { 'Content-Range': `${off}-${all.length - 1}` } });
      expect(fin.status).toBe(201);
      expect((await http('GET', `${base}/v2/push/chunked/blobs/${d}`)).text).toBe(all);
      expect((await http('GET', base + loc)).status).toBe(404);
    });

    it('streamed upload of unknown length (chunked transfer encoding)', async () => {
      const p = await http('POST', `${base}/v2/push/stream/blobs/uploads/`);
      const data = 'streamed '.repeat(1000);
      const r = await http('PATCH', base + (p.headers.location as string), { body: data, headers: { 'Transfer-Encoding': 'chunked' } });
      expect(r.status).toBe(202);
      expect(r.headers.range).toBe(`0-${data.length - 1}`);
      const d = sha256(data);
      expect((await http('PUT', `${base}${r.headers.location}?digest=${d}`)).status).toBe(201);
      expect((await http('GET', `${base}/v2/push/stream/blobs/${d}`)).text).toBe(data);
    });

    it('a wrong digest is DIGEST_INVALID and stores nothing', async () => {
      const p = await http('POST', `${base}/v2/push/bad/blobs/uploads/`);
      const wrong = sha256('something else');
      const r = await http('PUT', `${base}${p.headers.location}?digest=${wrong}`, { body: 'the real bytes' });
      expect(r.status).toBe(400);
      expect(errorCode(r)).toBe('DIGEST_INVALID');
      expect((await http('HEAD', `${base}/v2/push/bad/blobs/${wrong}`)).status).toBe(404);
      expect((await http('HEAD', `${base}/v2/push/bad/blobs/${sha256('the real bytes')}`)).status).toBe(404);
      const mono = await http('POST', `${base}/v2/push/bad/blobs/uploads/?digest=${wrong}`, { body: 'other bytes' });
      expect(mono.status).toBe(400);
      expect(errorCode(mono)).toBe('DIGEST_INVALID');
      const missing = await http('PUT', `${base}${(await http('POST', `${base}/v2/push/bad/blobs/uploads/`)).headers.location}`, { body: 'x' });
      expect(missing.status).toBe(400);
      expect(errorCode(missing)).toBe('DIGEST_INVALID');
      const malformed = await http('POST', `${base}/v2/push/bad/blobs/uploads/?digest=sha256:1234`, { body: 'x' });
      expect(errorCode(malformed)).toBe('DIGEST_INVALID');
    });

    it('a truncated body stores nothing and keeps the session consistent', async () => {
      const data = 'full body that never arrives';
      const d = sha256(data);
      await rawRequest(
        reg.host,
        `POST /v2/push/trunc/blobs/uploads/?digest=${d} HTTP/1.1\r\nHost: ${reg.host}\r\nContent-Length: ${data.length}\r\n\r\n${data.slice(0, 10)}`,
        { hangUp: true },
      );
      const p = await http('POST', `${base}/v2/push/trunc/blobs/uploads/`);
      const loc = p.headers.location as string;
      await http('PATCH', base + loc, { body: 'abc', headers: { 'Content-Range': '0-2' } });
      await rawRequest(reg.host, `PATCH ${loc} HTTP/1.1\r\nHost: ${reg.host}\r\nContent-Length: 100\r\nContent-Range: 3-102\r\n\r\n${'z'.repeat(40)}`, { hangUp: true });
      // The server notices the hang-up asynchronously; poll until the chunk is rolled back.
      let range = '';
      for (let i = 0; i < 100 && range !== '0-2'; i++) {
        range = (await http('GET', base + loc)).headers.range as string;
        if (range !== '0-2') await new Promise((r) => setTimeout(r, 20));
      }
      expect(range).toBe('0-2');
      const fin = await http('PUT', `${base}${loc}?digest=${sha256('abcdef')}`, { body: 'def', headers: { 'Content-Range': '3-5' } });
      expect(fin.status).toBe(201);
      expect((await http('HEAD', `${base}/v2/push/trunc/blobs/${d}`)).status).toBe(404);
    });

    it('Content-Length and Content-Range must agree', async () => {
      const p = await http('POST', `${base}/v2/push/len/blobs/uploads/`);
      const r = await http('PATCH', base + (p.headers.location as string), { body: 'abcd', headers: { 'Content-Range': '0-9' } });
      expect(r.status).toBe(416);
    });

    it('unknown, malformed and cancelled upload sessions', async () => {
      const unknown = await http('GET', `${base}/v2/push/a/blobs/uploads/00000000-0000-4000-8000-000000000000`);
      expect(unknown.status).toBe(404);
      expect(errorCode(unknown)).toBe('BLOB_UPLOAD_UNKNOWN');
      const weird = await http('PATCH', `${base}/v2/push/a/blobs/uploads/..%2f..%2fetc`, { body: 'x' });
      expect(weird.status).toBe(404);
      expect(errorCode(weird)).toBe('BLOB_UPLOAD_UNKNOWN');
      const p = await http('POST', `${base}/v2/push/a/blobs/uploads/`);
      const loc = p.headers.location as string;
      expect((await http('DELETE', base + loc)).status).toBe(204);
      expect((await http('GET', base + loc)).status).toBe(404);
      expect((await http('DELETE', base + loc)).status).toBe(404);
      // An upload id is only valid in the repository that started it.
      const q = await http('POST', `${base}/v2/push/a/blobs/uploads/`);
      const other = (q.headers.location as string).replace('/push/a/', '/push/b/');
      expect((await http('GET', base + other)).status).toBe(404);
    });

    it('cross-repository mount, and the fallback to an upload', async () => {
      const d = await pushBlob(base, 'mount/src', 'mount me');
      const m = await http('POST', `${base}/v2/mount/dst/blobs/uploads/?mount=${d}&from=mount/src`);
      expect(m.status).toBe(201);
      expect(m.headers.location).toBe(`/v2/mount/dst/blobs/${d}`);
      expect(m.headers['docker-content-digest']).toBe(d);
      expect((await http('GET', `${base}/v2/mount/dst/blobs/${d}`)).text).toBe('mount me');
      const miss = await http('POST', `${base}/v2/mount/dst/blobs/uploads/?mount=${sha256('nowhere')}&from=mount/src`);
      expect(miss.status).toBe(202);
      expect(miss.headers.location).toMatch(/blobs\/uploads\//);
      // Automatic mounting (on by default; see mount.test.ts for the registry without it).
      const noFrom = await http('POST', `${base}/v2/mount/dst2/blobs/uploads/?mount=${d}`);
      expect(noFrom.status).toBe(201);
      expect(noFrom.headers.location).toBe(`/v2/mount/dst2/blobs/${d}`);
    });

    it('manifests by tag and by digest, with Location and digest headers', async () => {
      const config = '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}';
      await pushBlob(base, 'push/m', config);
      await pushBlob(base, 'push/m', 'L1');
      const m = imageManifest(config, ['L1']);
      const byTag = await http('PUT', `${base}/v2/push/m/manifests/latest`, { body: m.bytes, headers: { 'Content-Type': OCI_MANIFEST } });
      expect(byTag.status).toBe(201);
      expect(byTag.headers.location).toBe(`/v2/push/m/manifests/${m.digest}`);
      expect(byTag.headers['docker-content-digest']).toBe(m.digest);
      const byDigest = await http('PUT', `${base}/v2/push/m/manifests/${m.digest}`, { body: m.bytes, headers: { 'Content-Type': OCI_MANIFEST } });
      expect(byDigest.status).toBe(201);
      const wrong = await http('PUT', `${base}/v2/push/m/manifests/${sha256('nope')}`, { body: m.bytes, headers: { 'Content-Type': OCI_MANIFEST } });
      expect(wrong.status).toBe(400);
      expect(errorCode(wrong)).toBe('DIGEST_INVALID');
      // Docker schema2 too.
      const docker = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
          config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: sha256(config), size: config.length },
          layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: sha256('L1'), size: 2 }],
        }),
      );
      const dr = await http('PUT', `${base}/v2/push/m/manifests/docker`, { body: docker, headers: { 'Content-Type': 'application/vnd.docker.distribution.manifest.v2+json' } });
      expect(dr.status).toBe(201);
      const g = await http('GET', `${base}/v2/push/m/manifests/docker`);
      expect(g.headers['content-type']).toBe('application/vnd.docker.distribution.manifest.v2+json');
      expect(g.body.equals(docker)).toBe(true);
    });

    it('manifests without a mediaType field keep the pushed Content-Type', async () => {
      const config = '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}';
      await pushBlob(base, 'push/nomt', config);
      const body = Buffer.from(JSON.stringify({ schemaVersion: 2, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length }, layers: [] }));
      expect((await http('PUT', `${base}/v2/push/nomt/manifests/t`, { body, headers: { 'Content-Type': OCI_MANIFEST } })).status).toBe(201);
      expect((await http('GET', `${base}/v2/push/nomt/manifests/t`)).headers['content-type']).toBe(OCI_MANIFEST);
    });

    it('indexes and manifest lists', async () => {
      const a = await pushImage(base, 'push/idx', 'amd', 'amd');
      const b = await pushImage(base, 'push/idx', 'arm', 'arm');
      const sizeOf = async (d: string) => (await http('GET', `${base}/v2/push/idx/manifests/${d}`)).body.length;
      const index = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_INDEX,
          manifests: [
            { mediaType: OCI_MANIFEST, digest: a.digest, size: await sizeOf(a.digest), platform: { architecture: 'amd64', os: 'linux' } },
            { mediaType: OCI_MANIFEST, digest: b.digest, size: await sizeOf(b.digest), platform: { architecture: 'arm64', os: 'linux' } },
          ],
        }),
      );
      const r = await http('PUT', `${base}/v2/push/idx/manifests/multi`, { body: index, headers: { 'Content-Type': OCI_INDEX } });
      expect(r.status).toBe(201);
      const g = await http('GET', `${base}/v2/push/idx/manifests/multi`);
      expect(g.headers['content-type']).toBe(OCI_INDEX);
      const list = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json', manifests: [{ mediaType: OCI_MANIFEST, digest: sha256('absent'), size: 3 }] }));
      const missing = await http('PUT', `${base}/v2/push/idx/manifests/broken`, { body: list, headers: { 'Content-Type': 'application/vnd.docker.distribution.manifest.list.v2+json' } });
      expect(missing.status).toBe(400);
      expect(errorCode(missing)).toBe('MANIFEST_BLOB_UNKNOWN');
    });

    it('rejects manifests naming missing blobs, garbage, and oversized bodies', async () => {
      const m = imageManifest('{"never":"pushed"}', ['nor this']);
      const r = await http('PUT', `${base}/v2/push/bad/manifests/t`, { body: m.bytes, headers: { 'Content-Type': OCI_MANIFEST } });
      expect(r.status).toBe(400);
      expect(errorCode(r)).toBe('MANIFEST_BLOB_UNKNOWN');
      for (const garbage of ['not json', '{"schemaVersion":1}', '[]', '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}']) {
        const g = await http('PUT', `${base}/v2/push/bad/manifests/t`, { body: garbage, headers: { 'Content-Type': OCI_MANIFEST } });
        expect(g.status, garbage).toBe(400);
        expect(errorCode(g)).toBe('MANIFEST_INVALID');
      }
      const big = await http('PUT', `${base}/v2/push/bad/manifests/t`, { body: Buffer.alloc(5 << 20, 32), headers: { 'Content-Type': OCI_MANIFEST } });
      expect(big.status).toBe(413);
      expect(errorCode(big)).toBe('SIZE_INVALID');
      const badTag = await http('PUT', `${base}/v2/push/bad/manifests/-bad`, { body: m.bytes, headers: { 'Content-Type': OCI_MANIFEST } });
      expect(badTag.status).toBe(400);
      expect((await http('GET', `${base}/v2/push/bad/manifests/t`)).status).toBe(404);
    });

    it('invalid repository names and path traversal are NAME_INVALID', async () => {
      for (const name of ['UPPER/case', 'a/%2e%2e/b', 'a//b', '-lead', 'a/../../etc']) {
        const raw = await rawRequest(reg.host, `GET /v2/${name}/tags/list HTTP/1.1\r\nHost: ${reg.host}\r\nConnection: close\r\n\r\n`);
        expect(raw, name).toMatch(/^HTTP\/1.1 400/);
        expect(raw).toContain('NAME_INVALID');
      }
    });
  });

  describe('content discovery', () => {
    beforeAll(async () => {
      await pushImage(base, 'disc/tags', 'c', 'c');
      for (const t of ['a', 'b', 'd', 'e']) {
        const got = await http('GET', `${base}/v2/disc/tags/manifests/c`);
        await http('PUT', `${base}/v2/disc/tags/manifests/${t}`, { body: got.body, headers: { 'Content-Type': OCI_MANIFEST } });
      }
    });

    it('lists tags, sorted, with n/last pagination and Link', async () => {
      const all = await http('GET', `${base}/v2/disc/tags/tags/list`);
      expect(all.status).toBe(200);
      expect(all.json()).toEqual({ name: 'disc/tags', tags: ['a', 'b', 'c', 'd', 'e'] });
      const p1 = await http('GET', `${base}/v2/disc/tags/tags/list?n=2`);
      expect(p1.json().tags).toEqual(['a', 'b']);
      expect(p1.headers.link).toBe('</v2/disc/tags/tags/list?n=2&last=b>; rel="next"');
      const p2 = await http('GET', `${base}/v2/disc/tags/tags/list?n=2&last=b`);
      expect(p2.json().tags).toEqual(['c', 'd']);
      const p3 = await http('GET', `${base}/v2/disc/tags/tags/list?n=2&last=d`);
      expect(p3.json().tags).toEqual(['e']);
      expect(p3.headers.link).toBeUndefined();
      expect((await http('GET', `${base}/v2/disc/tags/tags/list?n=0`)).json().tags).toEqual([]);
      const unknown = await http('GET', `${base}/v2/no/repo/tags/list`);
      expect(unknown.status).toBe(404);
      expect(errorCode(unknown)).toBe('NAME_UNKNOWN');
    });

    it('referrers with subject, OCI-Subject and artifactType filtering', async () => {
      const subject = await pushImage(base, 'disc/ref', 'v1', 'subject');
      const subjectSize = (await http('GET', `${base}/v2/disc/ref/manifests/v1`)).body.length;
      const empty = '{}';
      await pushBlob(base, 'disc/ref', empty);
      const pushed: string[] = [];
      for (const [type, blob] of [['application/vnd.example.sbom', 'sbom'], ['application/vnd.example.sig', 'sig']] as const) {
        await pushBlob(base, 'disc/ref', blob);
        const body = Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: OCI_MANIFEST,
            artifactType: type,
            config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: 2 },
            layers: [{ mediaType: 'application/octet-stream', digest: sha256(blob), size: blob.length }],
            subject: { mediaType: OCI_MANIFEST, digest: subject.digest, size: subjectSize },
            annotations: { 'org.example': type },
          }),
        );
        const r = await http('PUT', `${base}/v2/disc/ref/manifests/${sha256(body)}`, { body, headers: { 'Content-Type': OCI_MANIFEST } });
        expect(r.status).toBe(201);
        expect(r.headers['oci-subject']).toBe(subject.digest);
        pushed.push(sha256(body));
      }
      const all = await http('GET', `${base}/v2/disc/ref/referrers/${subject.digest}`);
      expect(all.status).toBe(200);
      expect(all.headers['content-type']).toBe(OCI_INDEX);
      const idx = all.json();
      expect(idx.schemaVersion).toBe(2);
      expect(idx.mediaType).toBe(OCI_INDEX);
      expect(idx.manifests.map((m: { digest: string }) => m.digest).sort()).toEqual([...pushed].sort());
      expect(idx.manifests.find((m: { artifactType: string }) => m.artifactType === 'application/vnd.example.sbom').annotations).toEqual({ 'org.example': 'application/vnd.example.sbom' });
      expect(all.headers['oci-filters-applied']).toBeUndefined();
      const filtered = await http('GET', `${base}/v2/disc/ref/referrers/${subject.digest}?artifactType=application/vnd.example.sig`);
      expect(filtered.headers['oci-filters-applied']).toBe('artifactType');
      expect(filtered.json().manifests.map((m: { digest: string }) => m.digest)).toEqual([pushed[1]]);
      const none = await http('GET', `${base}/v2/disc/ref/referrers/${sha256('no subject')}`);
      expect(none.status).toBe(200);
      expect(none.json().manifests).toEqual([]);
      // A subject that was never pushed is allowed (the referrer may arrive first).
      const orphanBody = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          artifactType: 'application/vnd.example.early',
          config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: 2 },
          layers: [],
          subject: { mediaType: OCI_MANIFEST, digest: sha256('future'), size: 10 },
        }),
      );
      expect((await http('PUT', `${base}/v2/disc/ref/manifests/early`, { body: orphanBody, headers: { 'Content-Type': OCI_MANIFEST } })).status).toBe(201);
      expect((await http('GET', `${base}/v2/disc/ref/referrers/${sha256('future')}`)).json().manifests).toHaveLength(1);
      // Deleting a referrer removes it from the list.
      expect((await http('DELETE', `${base}/v2/disc/ref/manifests/${pushed[0]}`)).status).toBe(202);
      expect((await http('GET', `${base}/v2/disc/ref/referrers/${subject.digest}`)).json().manifests.map((m: { digest: string }) => m.digest)).toEqual([pushed[1]]);
    });

    it('lists the catalog with pagination', async () => {
      const all = (await http('GET', `${base}/v2/_catalog`)).json().repositories as string[];
      expect(all).toContain('disc/tags');
      expect(all).toContain('pull/test');
      expect([...all].sort()).toEqual(all);
      const p1 = await http('GET', `${base}/v2/_catalog?n=1`);
      expect(p1.json().repositories).toEqual([all[0]]);
      expect(p1.headers.link).toBe(`</v2/_catalog?n=1&last=${encodeURIComponent(all[0]!)}>; rel="next"`);
      const p2 = await http('GET', `${base}/v2/_catalog?n=1&last=${all[0]}`);
      expect(p2.json().repositories).toEqual([all[1]]);
    });
  });

  describe('content management', () => {
    it('deletes tags, manifests and blobs', async () => {
      const img = await pushImage(base, 'mgmt/x', 'v1', 'mgmt');
      const got = await http('GET', `${base}/v2/mgmt/x/manifests/v1`);
      await http('PUT', `${base}/v2/mgmt/x/manifests/v2`, { body: got.body, headers: { 'Content-Type': OCI_MANIFEST } });
      expect((await http('DELETE', `${base}/v2/mgmt/x/manifests/v2`)).status).toBe(202);
      expect((await http('GET', `${base}/v2/mgmt/x/manifests/v2`)).status).toBe(404);
      expect((await http('GET', `${base}/v2/mgmt/x/manifests/${img.digest}`)).status).toBe(200);
      expect((await http('GET', `${base}/v2/mgmt/x/tags/list`)).json().tags).toEqual(['v1']);
      expect((await http('DELETE', `${base}/v2/mgmt/x/manifests/${img.digest}`)).status).toBe(202);
      const gone = await http('GET', `${base}/v2/mgmt/x/manifests/${img.digest}`);
      expect(gone.status).toBe(404);
      expect(errorCode(gone)).toBe('MANIFEST_UNKNOWN');
      expect((await http('GET', `${base}/v2/mgmt/x/manifests/v1`)).status).toBe(404);
      expect((await http('GET', `${base}/v2/mgmt/x/tags/list`)).json().tags).toEqual([]);
      const again = await http('DELETE', `${base}/v2/mgmt/x/manifests/${img.digest}`);
      expect(again.status).toBe(404);
      expect(errorCode(again)).toBe('MANIFEST_UNKNOWN');
      const layer = sha256(img.layers[0]!);
      expect((await http('DELETE', `${base}/v2/mgmt/x/blobs/${layer}`)).status).toBe(202);
      const blobGone = await http('GET', `${base}/v2/mgmt/x/blobs/${layer}`);
      expect(blobGone.status).toBe(404);
      expect(errorCode(blobGone)).toBe('BLOB_UNKNOWN');
      expect((await http('DELETE', `${base}/v2/mgmt/x/blobs/${layer}`)).status).toBe(404);
    });

    it('refuses unsupported methods with 405 UNSUPPORTED', async () => {
      const r = await http('POST', `${base}/v2/mgmt/x/tags/list`);
      expect(r.status).toBe(405);
      expect(errorCode(r)).toBe('UNSUPPORTED');
    });
  });
});

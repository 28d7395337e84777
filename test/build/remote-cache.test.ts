import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry } from '../../registry-server/server.js';
import { BuildCache, type CacheRecord } from '../../src/build/build-cache.js';
import type { CacheKey } from '../../src/build/cache-key.js';
import {
  buildCacheDocument,
  CACHE_CONFIG_MEDIA_TYPE,
  CacheExportError,
  CacheOptionError,
  type CacheSpec,
  exportCache,
  openRemoteCache,
  parseCacheOption,
} from '../../src/build/remote-cache/index.js';
import { UsageError } from '../../src/cli/command.js';
import { digestOf } from '../../src/image/digest.js';
import { gzipMemoKey, storeLayer } from '../../src/image/layer/index.js';
import { MediaType } from '../../src/image/media-types.js';
import { parseReference } from '../../src/image/reference.js';
import { RegistryClient } from '../../src/registry/client.js';
import { OciLayout } from '../../src/registry/oci-layout.js';
import type { Progress } from '../../src/registry/progress.js';
import { MEMO_NAMESPACE, openStore, type Store } from '../../src/store/store.js';
import { startDistribution } from '../registry/helpers.js';

// Real servers on loopback: the bundled registry and Debian's docker-registry (distribution 2.8).

let work: string;
let client: RegistryClient;
const registries: { name: string; host: string; close(): Promise<void>; root: string }[] = [];

/** A small layer tar: files with the given contents, deterministic. */
function layerTar(files: Record<string, string>): Readable {
  const pack = tar.pack();
  for (const [name, content] of Object.entries(files).sort()) pack.entry({ name, size: Buffer.byteLength(content), mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 }, content);
  pack.finalize();
  return pack as unknown as Readable;
}

const key = (s: string): CacheKey => `sha256:${createHash('sha256').update(s).digest('hex')}`;

interface Fixture {
  store: Store;
  records: [CacheKey, CacheRecord][];
}

/** Three steps over two distinct layers (the third step made the same tree as the first). */
async function makeRecords(name: string): Promise<Fixture> {
  const store = await openStore(join(work, name));
  const cache = new BuildCache(store);
  const records: [CacheKey, CacheRecord][] = [];
  const trees: Record<string, string>[] = [{ 'a.txt': 'alpha\n', 'dir/b.txt': 'bravo\n'.repeat(1000) }, { 'c.txt': `charlie ${'x'.repeat(50_000)}\n` }, { 'a.txt': 'alpha\n', 'dir/b.txt': 'bravo\n'.repeat(1000) }];
  for (const [i, files] of trees.entries()) {
    const layer = await storeLayer(store, layerTar(files), { compression: 'none' });
    const k = key(`${name} step ${i}`);
    const rec: CacheRecord = { layer, history: { created: '2024-01-01T00:00:00Z', created_by: `RUN step ${i} # buildkit`, comment: 'buildkit.dockerfile.v0' } };
    await cache.set(k, rec);
    records.push([k, rec]);
  }
  return { store, records };
}

async function emptyStore(name: string): Promise<Store> {
  return openStore(join(work, name));
}

function statuses(): { progress: Progress; done: Map<string, string> } {
  const done = new Map<string, string>();
  return { done, progress: { start() {}, advance() {}, done: (id, s) => void done.set(id, s), close() {} } };
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'tsbuild-remote-cache-'));
  client = new RegistryClient();
  const ours = await startRegistry({ addr: '127.0.0.1:0', root: join(work, 'registry') });
  registries.push({ name: 'tsbuild registry', host: ours.host, close: () => ours.close(), root: join(work, 'registry') });
  const dist = await startDistribution();
  registries.push({ name: 'docker-registry (distribution)', ...dist });
}, 30_000);

afterAll(async () => {
  await client?.close();
  for (const r of registries) await r.close().catch(() => undefined);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('parseCacheOption', () => {
  it("reads BuildKit's syntax for both directions", () => {
    const r = parseCacheOption('type=registry,ref=localhost:5000/app/cache:main,mode=max', 'to');
    expect(r).toMatchObject({ type: 'registry', mode: 'max', ignoreError: false, ref: { registry: 'localhost:5000', repository: 'app/cache', tag: 'main' } });
    expect(parseCacheOption('type=registry,ref=localhost:5000/c', 'from')).toMatchObject({ mode: 'min', ref: { tag: 'latest' } });
    expect(parseCacheOption('localhost:5000/c:x', 'from')).toMatchObject({ type: 'registry', ref: { repository: 'c', tag: 'x' } });
    expect(parseCacheOption('type=local,dest=/tmp/c,mode=max,ignore-error=true', 'to')).toEqual({ type: 'local', dest: '/tmp/c', tag: 'latest', mode: 'max', ignoreError: true });
    expect(parseCacheOption('type=local,src=/tmp/c,tag=v2', 'from')).toMatchObject({ type: 'local', src: '/tmp/c', tag: 'v2' });
    // buildx options that change nothing here are accepted, so command lines work unchanged.
    expect(parseCacheOption('type=registry,ref=h:1/c,mode=max,oci-mediatypes=true,image-manifest=true,compression=gzip', 'to').type).toBe('registry');
  });

  it('rejects what it cannot do with one clear usage error', () => {
    const bad: [string, 'to' | 'from' | undefined, RegExp][] = [
      ['type=registry', 'to', /needs ref=/],
      ['type=registry,ref=h:1/c,mode=all', 'to', /mode must be min or max/],
      ['type=gha,scope=x', 'to', /"gha" is not supported/],
      ['type=nfs,ref=x', 'to', /unknown cache type "nfs"/],
      ['type=local,src=/x', 'to', /needs dest=DIR/],
      ['type=local,dest=/x', 'from', /needs src=DIR/],
      ['type=registry,ref=h:1/c,colour=blue', 'to', /unknown key "colour"/],
      ['type=registry,ref=h:1/C', 'to', /invalid reference/],
      ['type=registry,ref=h:1/c@sha256:' + 'a'.repeat(64), 'to', /not a digest/],
      ['type=registry,ref=h:1/c,mode=max', 'from', /mode= applies to --cache-to only/],
      ['type=registry,,ref=x', 'to', /expected key=value/],
      ['', 'from', /empty/],
    ];
    for (const [value, use, message] of bad) {
      let err: unknown;
      try {
        parseCacheOption(value, use);
      } catch (e) {
        err = e;
      }
      expect(err, value).toBeInstanceOf(CacheOptionError);
      expect(err, value).toBeInstanceOf(UsageError);
      expect((err as Error).message, value).toMatch(message);
      expect((err as Error).message).not.toContain('\n');
    }
  });
});

describe('the cache format', () => {
  it('is deterministic and rejects a config that does not match its manifest', async () => {
    const blob = { mediaType: MediaType.OciLayerGzip, digest: digestOf('gz'), size: 2 };
    const entries = [
      { key: key('b'), history: { created_by: 'b' }, blob, diffId: digestOf('tar') },
      { key: key('a'), history: { created_by: 'a' }, blob, diffId: digestOf('tar'), diffSize: 3 },
    ];
    const one = buildCacheDocument('max', entries);
    const two = buildCacheDocument('max', [...entries].reverse());
    expect(one.manifestDescriptor.digest).toBe(two.manifestDescriptor.digest);
    expect(one.manifest.layers).toHaveLength(1);
    expect(one.manifest.config.mediaType).toBe(CACHE_CONFIG_MEDIA_TYPE);
    expect(one.config.records.map((r) => r.key)).toEqual([key('a'), key('b')].sort());
    const { parseCacheConfig } = await import('../../src/build/remote-cache/index.js');
    expect(parseCacheConfig(one.configBytes, one.manifest).size).toBe(2);
    const other = { ...one.manifest, layers: [{ ...blob, digest: digestOf('other') }] };
    expect(() => parseCacheConfig(one.configBytes, other)).toThrow(/is not the manifest's layer 0/);
    const badRecord = Buffer.from(JSON.stringify({ ...one.config, records: [{ key: key('a'), layer: 5, history: {} }] }));
    expect(() => parseCacheConfig(badRecord, one.manifest)).toThrow(/no layer 5/);
  });
});

describe.each([
  ['the bundled registry', 0],
  ["Debian's docker-registry", 1],
] as const)('registry cache on %s', (_name, which) => {
  const reg = () => registries[which]!;
  const spec = (repo: string, mode: 'min' | 'max', use: 'to' | 'from'): CacheSpec => parseCacheOption(`type=registry,ref=${reg().host}/${repo}:cache${use === 'to' ? `,mode=${mode}` : ''}`, use);

  it('exports layers and key chain; an empty store finds every key and gets the same layers', async () => {
    const a = await makeRecords(`reg${which}-a`);
    const s = statuses();
    const res = await exportCache(a.store, spec('app/cache', 'max', 'to'), a.records, { client, progress: s.progress });
    expect(res.records).toBe(3);
    expect(res.layers).toHaveLength(2);
    expect(res.layers.every((l) => l.mediaType === MediaType.OciLayerGzip)).toBe(true);
    expect([...s.done.values()]).toEqual(['Pushed', 'Pushed']);
    // The registry serves it like any manifest, with our config type.
    const fetched = await client.getManifest(parseReference(`${reg().host}/app/cache:cache`), 'cache');
    expect(fetched.descriptor.digest).toBe(res.digest);
    expect((fetched.manifest as { config: { mediaType: string } }).config.mediaType).toBe(CACHE_CONFIG_MEDIA_TYPE);

    const b = await emptyStore(`reg${which}-b`);
    const warnings: string[] = [];
    const remote = await openRemoteCache(spec('app/cache', 'max', 'from'), { client, store: b, warn: (m) => warnings.push(m) });
    expect(remote.found).toBe(true);
    expect(remote.keys().sort()).toEqual(a.records.map(([k]) => k).sort());
    for (const [k, want] of a.records) {
      const got = await remote.lookup(k);
      expect(got, k).toBeDefined();
      expect(got!.layer.diffId).toBe(want.layer.diffId);
      // Kept uncompressed locally, exactly the original tar.
      expect(got!.layer.descriptor).toEqual({ mediaType: MediaType.OciLayer, digest: want.layer.diffId, size: want.layer.descriptor.size });
      expect(got!.history).toEqual(want.history);
      expect(await b.blobs.readBytes(want.layer.diffId)).toEqual(await a.store.blobs.readBytes(want.layer.diffId));
      // Written into the local build cache, so the next build hits without the registry.
      expect(await new BuildCache(b).get(k)).toEqual(got);
      // The gzip form is remembered: a later push sends the very blob, no recompression.
      const memo = await b.kv(MEMO_NAMESPACE).get<{ digest: string }>(gzipMemoKey(want.layer.diffId));
      expect(res.layers.map((l) => l.digest)).toContain(memo?.value.digest);
      expect(await b.blobs.has(memo!.value.digest as `sha256:${string}`)).toBe(true);
    }
    expect(warnings).toEqual([]);
    expect(await remote.lookup(key('not in the cache'))).toBeUndefined();

    // Exporting the same records again gives the same manifest and sends no layer.
    const again = statuses();
    const res2 = await exportCache(a.store, spec('app/cache', 'max', 'to'), [...a.records].reverse(), { client, progress: again.progress });
    expect(res2.digest).toBe(res.digest);
    expect([...again.done.values()]).toEqual(['Layer already exists', 'Layer already exists']);
  });

  it('mode=min holds the final image steps only, mode=max every record', async () => {
    const a = await makeRecords(`reg${which}-mode`);
    const finalKeys = [a.records[1]![0]];
    const min = await exportCache(a.store, spec('mode/min', 'min', 'to'), a.records, { client, finalKeys });
    const max = await exportCache(a.store, spec('mode/max', 'max', 'to'), a.records, { client, finalKeys });
    expect(min.records).toBe(1);
    expect(min.layers).toHaveLength(1);
    expect(max.records).toBe(3);
    const b = await emptyStore(`reg${which}-mode-b`);
    const rmin = await openRemoteCache(spec('mode/min', 'min', 'from'), { client, store: b });
    const rmax = await openRemoteCache(spec('mode/max', 'max', 'from'), { client, store: b });
    expect(rmin.keys()).toEqual(finalKeys);
    expect(rmax.size).toBe(3);
    expect(await rmin.lookup(a.records[0]![0])).toBeUndefined();
  });

  it('a missing cache is a warning and an empty cache, not a failure', async () => {
    const b = await emptyStore(`reg${which}-missing`);
    const warnings: string[] = [];
    const remote = await openRemoteCache(spec('never/pushed', 'min', 'from'), { client, store: b, warn: (m) => warnings.push(m) });
    expect(remote.found).toBe(false);
    expect(remote.size).toBe(0);
    expect(warnings).toEqual([`importing cache from ${reg().host}/never/pushed:cache: not found`]);
    expect(await remote.lookup(key('anything'))).toBeUndefined();
  });

  it('an image that is not a cache is ignored with a warning', async () => {
    const repo = parseReference(`${reg().host}/plain/image:cache`);
    const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
    const cd = digestOf(config);
    await client.uploadBlob(repo, { digest: cd, size: config.length }, () => Readable.from([config]));
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciConfig, digest: cd, size: config.length }, layers: [] }));
    await client.putManifest(repo, 'cache', manifest, MediaType.OciManifest);
    const warnings: string[] = [];
    const remote = await openRemoteCache(spec('plain/image', 'min', 'from'), { client, store: await emptyStore(`reg${which}-plain`), warn: (m) => warnings.push(m) });
    expect(remote.found).toBe(false);
    expect(warnings[0]).toMatch(/not a tsbuild cache \(config type application\/vnd\.oci\.image\.config\.v1\+json\)/);
  });
});

/** Files of a directory tree whose name is `hex` (registry storage keeps blobs under their hex). */
async function findBlobFile(root: string, hex: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string) => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name === hex) {
          for (const f of await readdir(p)) if ((await stat(join(p, f))).isFile()) out.push(join(p, f));
        } else await walk(p);
      } else if (e.name === hex) out.push(p);
    }
  };
  await walk(root);
  return out;
}

describe('integrity', () => {
  it('a corrupted layer in the registry is rejected and nothing is recorded', async () => {
    const dist = registries[1]!;
    const a = await makeRecords('corrupt-a');
    const res = await exportCache(a.store, parseCacheOption(`type=registry,ref=${dist.host}/corrupt/cache:x,mode=max`, 'to'), a.records, { client });
    // Flip one byte in the middle of the bigger layer's stored blob (docker-registry serves what it has).
    const victim = res.layers.reduce((x, y) => (x.size > y.size ? x : y));
    // The blob's `data` file, not the repository's link files that name it.
    const files = (await findBlobFile(dist.root, victim.digest.slice(7))).filter((f) => f.endsWith('/data'));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const bytes = readFileSync(f);
      bytes[bytes.length >> 1] ^= 0xff;
      writeFileSync(f, bytes);
    }
    const b = await emptyStore('corrupt-b');
    const warnings: string[] = [];
    const remote = await openRemoteCache(parseCacheOption(`type=registry,ref=${dist.host}/corrupt/cache:x`, 'from'), { client, store: b, warn: (m) => warnings.push(m) });
    const k = a.records.find(([, r]) => r.layer.diffId === a.records[1]![1].layer.diffId)![0];
    expect(await remote.lookup(k)).toBeUndefined();
    expect(warnings.join('\n')).toMatch(new RegExp(`layer ${victim.digest}.*(digest|bytes)`));
    expect(await new BuildCache(b).get(k)).toBeUndefined();
    expect(await b.blobs.has(a.records[1]![1].layer.diffId)).toBe(false);
    expect(await b.blobs.has(victim.digest)).toBe(false);
    // The sound layer still imports.
    expect(await remote.lookup(a.records[0]![0])).toBeDefined();
  });

  it('a layer that does not decompress to its diff_id is rejected and nothing is recorded', async () => {
    const a = await makeRecords('diffid-a');
    const dir = join(work, 'diffid-layout');
    await exportCache(a.store, parseCacheOption(`type=local,dest=${dir},mode=max`, 'to'), a.records, {});
    // Rewrite the config so that one record claims another diff_id.
    const layout = new OciLayout(dir);
    const m = JSON.parse((await layout.blobs.readBytes((await layout.resolve('latest')).digest)).toString());
    const config = JSON.parse((await layout.blobs.readBytes(m.config.digest)).toString());
    const liar = digestOf('something else');
    config.layers[0].diffId = liar;
    delete config.layers[0].diffSize;
    const cbytes = Buffer.from(JSON.stringify(config));
    const c = await layout.blobs.writeBytes(cbytes);
    const mbytes = Buffer.from(JSON.stringify({ ...m, config: { ...m.config, digest: c.digest, size: c.size } }));
    const md = await layout.blobs.writeBytes(mbytes);
    await layout.setRef({ mediaType: MediaType.OciManifest, digest: md.digest, size: md.size }, 'latest');

    const b = await emptyStore('diffid-b');
    const warnings: string[] = [];
    const remote = await openRemoteCache(parseCacheOption(`type=local,src=${dir}`, 'from'), { store: b, warn: (m) => warnings.push(m) });
    const k = config.records.find((r: { layer: number }) => r.layer === 0).key as CacheKey;
    expect(await remote.lookup(k)).toBeUndefined();
    expect(warnings.join('\n')).toContain(liar);
    expect(await new BuildCache(b).get(k)).toBeUndefined();
    expect(await b.blobs.has(liar)).toBe(false);
  });
});

describe('local cache (OCI layout)', () => {
  it('round-trips through a directory', async () => {
    const a = await makeRecords('local-a');
    const dir = join(work, 'local-cache');
    const res = await exportCache(a.store, parseCacheOption(`type=local,dest=${dir},mode=max`, 'to'), a.records);
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
    expect(index.manifests).toEqual([{ mediaType: MediaType.OciManifest, digest: res.digest, size: res.size, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }]);
    expect(JSON.parse(await readFile(join(dir, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    for (const l of res.layers) expect((await stat(join(dir, 'blobs/sha256', l.digest.slice(7)))).size).toBe(l.size);

    const b = await emptyStore('local-b');
    const remote = await openRemoteCache(parseCacheOption(`type=local,src=${dir}`, 'from'), { store: b });
    expect(remote.found).toBe(true);
    const got = await Promise.all(a.records.map(([k]) => remote.lookup(k)));
    expect(got.map((r) => r?.layer.diffId)).toEqual(a.records.map(([, r]) => r.layer.diffId));
    for (const [, r] of a.records) expect(await b.blobs.has(r.layer.diffId)).toBe(true);
  });

  it('a missing directory is a warning-level miss; a digest destination is refused', async () => {
    const warnings: string[] = [];
    const remote = await openRemoteCache(parseCacheOption(`type=local,src=${join(work, 'nowhere')}`, 'from'), { store: await emptyStore('local-missing'), warn: (m) => warnings.push(m) });
    expect(remote.found).toBe(false);
    expect(warnings).toEqual([`importing cache from local ${join(work, 'nowhere')}: not found`]);
    const a = await makeRecords('local-digest');
    const pinned: CacheSpec = { type: 'registry', ref: parseReference(`${registries[0]!.host}/x@${digestOf('x')}`), mode: 'max', ignoreError: false };
    await expect(exportCache(a.store, pinned, a.records, { client })).rejects.toThrow(CacheExportError);
  });

  it('an export that cannot reach its destination fails with a one-line error naming it', async () => {
    const a = await makeRecords('unreachable');
    const file = join(work, 'a-file');
    await writeFile(file, 'not a directory');
    const err = await exportCache(a.store, parseCacheOption(`type=local,dest=${file}/sub`, 'to'), a.records).catch((e: Error) => e);
    expect(err).toBeInstanceOf(CacheExportError);
    expect((err as Error).message).toMatch(new RegExp(`^exporting cache to local ${file}/sub: `));
  });
});

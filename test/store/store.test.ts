import { createHash } from 'node:crypto';
import { readFile, truncate, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Digest } from '../../src/image/digest.js';
import { loadImage, writeImage } from '../../src/image/image.js';
import { MediaType } from '../../src/image/media-types.js';
import { BlobIntegrityError, BlobNotFoundError } from '../../src/store/errors.js';
import { BUILD_CACHE_NAMESPACE, openStore, type Store } from '../../src/store/store.js';
import { collect, tempDir } from '../image/helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
let store: Store;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  store = await openStore(join(dir, 'store'));
});
afterAll(async () => cleanup());

const digestOf = (b: Buffer | string): Digest => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Makes blobs look old so GC may take them (GC never removes what changed after it started). */
async function age(s: Store, ...digests: Digest[]) {
  for (const d of digests) await utimes(s.blobs.path(d), 1_000_000, 1_000_000);
}

describe('blob store', () => {
  it('writes atomically under blobs/sha256/<hex> and verifies expectations', async () => {
    const info = await store.blobs.writeBytes('hello');
    expect(info).toEqual({ digest: digestOf('hello'), size: 5 });
    expect(store.blobs.path(info.digest)).toBe(join(dir, 'store/blobs/sha256', info.digest.slice(7)));
    expect((await collect(store.blobs.open(info.digest))).toString()).toBe('hello');
    await expect(store.blobs.writeBytes('other', { digest: digestOf('hello') })).rejects.toThrow(/does not match/);
    await expect(store.blobs.writeBytes('hello', { size: 4 })).rejects.toThrow(/expected 4/);
    // nothing half-written is left behind
    const names: string[] = [];
    for await (const d of store.blobs.list()) names.push(d);
    expect(names).toEqual([info.digest]);
  });

  it('detects a corrupted or truncated blob on read and never serves it', async () => {
    const data = Buffer.alloc(3 << 20, 1);
    const { digest } = await store.blobs.write(Readable.from([data]));
    const p = store.blobs.path(digest);
    const bytes = await readFile(p);
    bytes[100] = 2;
    await writeFile(p, bytes);
    await expect(collect(store.blobs.open(digest))).rejects.toBeInstanceOf(BlobIntegrityError);
    await expect(store.blobs.readBytes(digest)).rejects.toThrow(new RegExp(`blob ${digest} is corrupt`));
    await writeFile(p, data);
    await truncate(p, 1000);
    await expect(collect(store.blobs.open(digest))).rejects.toBeInstanceOf(BlobIntegrityError);
    // re-writing the blob repairs it
    await store.blobs.write(Readable.from([data]), { digest });
    expect((await collect(store.blobs.open(digest))).length).toBe(data.length);
    await expect(collect(store.blobs.open(digestOf('missing')))).rejects.toBeInstanceOf(BlobNotFoundError);
  });

  it('is safe with concurrent writers of the same blob', async () => {
    const data = Buffer.alloc(2 << 20, 9);
    const digest = digestOf(data);
    const chunks = () => Readable.from((function* () { for (let i = 0; i < 32; i++) yield data.subarray(i << 16, (i + 1) << 16); })());
    const results = await Promise.all(Array.from({ length: 8 }, () => store.blobs.write(chunks(), { digest })));
    expect(new Set(results.map((r) => r.digest))).toEqual(new Set([digest]));
    expect((await collect(store.blobs.open(digest))).equals(data)).toBe(true);
  });
});

describe('names', () => {
  it('normalises names the way docker does and updates atomically', async () => {
    const manifest = await store.blobs.writeBytes(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciConfig, digest: digestOf('x'), size: 1 }, layers: [] }));
    const target = { mediaType: MediaType.OciManifest, digest: manifest.digest, size: manifest.size };
    await store.images.set('busybox', target);
    expect((await store.images.get('docker.io/library/busybox:latest'))?.target.digest).toBe(manifest.digest);
    expect((await store.images.get('busybox:latest'))?.name).toBe('docker.io/library/busybox:latest');
    await store.images.set('localhost:5000/a/b:1', target);
    expect((await store.images.list()).map((r) => r.name)).toEqual(['docker.io/library/busybox:latest', 'localhost:5000/a/b:1']);
    expect(await store.images.delete('busybox')).toBe(true);
    expect(await store.images.get('busybox')).toBeUndefined();
    await store.images.delete('localhost:5000/a/b:1');
  });
});

describe('garbage collection', () => {
  it('removes unreferenced blobs, keeps named images, cache refs and held blobs', async () => {
    const gcStore = await openStore(join(dir, 'gc-store'));
    const layer = await gcStore.blobs.writeBytes('layer-bytes');
    const img = await writeImage(gcStore, {
      config: { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } },
      layers: [{ descriptor: { mediaType: MediaType.OciLayer, digest: layer.digest, size: layer.size }, diffId: layer.digest }],
      names: ['kept:1'],
    });
    const orphan = await gcStore.blobs.writeBytes('orphan');
    const cached = await gcStore.blobs.writeBytes('cached');
    const held = await gcStore.blobs.writeBytes('held');
    const owned = await gcStore.blobs.writeBytes('memo-target');
    await gcStore.kv(BUILD_CACHE_NAMESPACE).set('k', { layer: cached.digest }, { refs: [cached.digest] });
    await gcStore.kv('memo').set('m', {}, { owner: layer.digest, refs: [owned.digest] });
    await age(gcStore, layer.digest, orphan.digest, cached.digest, held.digest, owned.digest, img.descriptor.digest, img.manifest.config.digest);
    const hold = await gcStore.hold([held.digest]);

    const r1 = await gcStore.gc();
    expect(r1.removedBlobs).toEqual([orphan.digest]);
    expect(await gcStore.blobs.has(cached.digest)).toBe(true);
    expect(await gcStore.blobs.has(owned.digest)).toBe(true);
    expect((await loadImage(gcStore, 'kept:1')).layers[0]!.diffId).toBe(layer.digest);

    await hold.release();
    const r2 = await gcStore.gc({ clearNamespaces: [BUILD_CACHE_NAMESPACE] });
    expect(new Set(r2.removedBlobs)).toEqual(new Set([cached.digest, held.digest]));

    await gcStore.images.delete('kept:1');
    const r3 = await gcStore.gc();
    expect(r3.removedBlobs).toHaveLength(4); // manifest, config, layer, and the memo's blob with its owner gone
    expect(await gcStore.kv('memo').get('m')).toBeUndefined();
  });

  it('kv entries (not fsynced: caches) replace atomically, and one torn by a crash reads as absent', async () => {
    const s = await openStore(join(dir, 'kv-store'));
    const kv = s.kv(BUILD_CACHE_NAMESPACE);
    await kv.set('key', { n: 1 });
    await kv.set('key', { n: 2 });
    expect((await kv.get<{ n: number }>('key'))?.value).toEqual({ n: 2 });
    const files: string[] = [];
    for await (const e of kv.entries()) files.push(e.key);
    expect(files).toEqual(['key']);
    // What a crash after the rename but before writeback can leave: an empty or partial file.
    const file = join(dir, 'kv-store/kv', BUILD_CACHE_NAMESPACE, `${createHash('sha256').update('key').digest('hex')}.json`);
    await writeFile(file, '{"key":"key","val');
    expect(await kv.get('key')).toBeUndefined();
    await truncate(file, 0);
    expect(await kv.get('key')).toBeUndefined();
  });

  it('never removes a blob written while it runs (fresh mtime) nor one held by a writer', async () => {
    const s = await openStore(join(dir, 'gc-store2'));
    const hold = await s.hold();
    const b = await s.blobs.writeBytes('in-flight', {}, { hold });
    await age(s, b.digest);
    expect((await s.gc()).removedBlobs).toEqual([]);
    await hold.release();
    // A blob committed after GC started has a newer mtime than the GC's start: simulate with a future mtime.
    const fresh = await s.blobs.writeBytes('fresh');
    const later = Date.now() / 1000 + 3600;
    await utimes(s.blobs.path(fresh.digest), later, later);
    expect((await s.gc()).removedBlobs).toEqual([b.digest]);
    expect(await s.blobs.has(fresh.digest)).toBe(true);
  });
});

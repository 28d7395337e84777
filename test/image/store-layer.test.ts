import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf } from '../../src/image/digest.js';
import { compressedLayer, storeLayer, writeLayer, applyLayer } from '../../src/image/layer/index.js';
import { MediaType } from '../../src/image/media-types.js';
import { openStore, type Store } from '../../src/store/store.js';
import { collect, tempDir } from './helpers.js';
import { gunzipSync } from 'node:zlib';
import { readFile } from 'node:fs/promises';

let dir: string;
let cleanup: () => Promise<void>;
let store: Store;
let tree: string;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  store = await openStore(join(dir, 'store'));
  tree = join(dir, 'tree');
  await mkdir(join(tree, 'sub'), { recursive: true });
  await writeFile(join(tree, 'sub/file'), 'content '.repeat(10_000));
});
afterAll(async () => cleanup());

describe('storeLayer / compressedLayer', () => {
  it('computes diff_id and blob digest in one pass (uncompressed and gzip)', async () => {
    const tarBytes = await collect(writeLayer(tree, { sourceDateEpoch: 0 }));
    const plain = await storeLayer(store, writeLayer(tree, { sourceDateEpoch: 0 }), { compression: 'none' });
    expect(plain.diffId).toBe(digestOf(tarBytes));
    expect(plain.descriptor).toEqual({ mediaType: MediaType.OciLayer, digest: plain.diffId, size: tarBytes.length });

    const gz = await storeLayer(store, writeLayer(tree, { sourceDateEpoch: 0 }), { compression: 'gzip' });
    expect(gz.diffId).toBe(plain.diffId);
    expect(gz.descriptor.mediaType).toBe(MediaType.OciLayerGzip);
    const blob = await store.blobs.readBytes(gz.descriptor.digest);
    expect(digestOf(blob)).toBe(gz.descriptor.digest);
    expect(gunzipSync(blob).equals(tarBytes)).toBe(true);
  });

  it('compresses an uncompressed layer once and remembers it', async () => {
    const plain = await storeLayer(store, writeLayer(tree, { sourceDateEpoch: 1 }), { compression: 'none' });
    const [a, b] = await Promise.all([compressedLayer(store, plain.descriptor, 'gzip'), compressedLayer(store, plain.descriptor, 'gzip')]);
    expect(a).toEqual(b);
    expect(a.mediaType).toBe(MediaType.OciLayerGzip);
    const memo = await store.kv('memo').get(`gzip:${plain.descriptor.digest}`);
    expect(memo?.value).toMatchObject({ digest: a.digest });
    expect(await compressedLayer(store, a, 'gzip')).toBe(a); // already compressed: unchanged
    const target = join(dir, 'applied');
    await applyLayer(store.blobs.open(a.digest), target);
    expect(await readFile(join(target, 'sub/file'), 'utf8')).toBe('content '.repeat(10_000));
  });
});

import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadImage } from '../../src/image/image.js';
import { distributableImage } from '../../src/image/layer/compressed-layer.js';
import { loadArchive, saveArchive } from '../../src/store/archive.js';
import { openStore, type Store } from '../../src/store/store.js';
import { sh, tempDir } from '../image/helpers.js';

// Real peers: skopeo and umoci (Debian packages, installed by scripts/install-deps.sh).
let dir: string;
let cleanup: () => Promise<void>;
let store: Store;
let busyboxManifest: string;
const layout = () => join(dir, 'busybox-layout');

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  const r = sh('bash', [join(import.meta.dirname, '../../testdata/make-busybox-image.sh'), layout()]);
  if (r.code !== 0) throw new Error(`make-busybox-image.sh failed: ${r.stderr}`);
  busyboxManifest = r.stdout.trim();
  store = await openStore(join(dir, 'store'));
});
afterAll(async () => cleanup());

function files(root: string): string[] {
  const r = sh('find', [root, '-mindepth', '1', '-printf', '%P %y %m\\n']);
  return r.stdout.split('\n').filter(Boolean).sort();
}

describe('OCI layout and archives', () => {
  it('loads the busybox layout with its digests unchanged', async () => {
    const { format, images } = await loadArchive(store, layout(), { defaultName: 'busybox' });
    expect(format).toBe('oci');
    expect(images).toEqual([{ name: 'docker.io/library/busybox:latest', descriptor: expect.objectContaining({ digest: busyboxManifest }) }]);
    const img = await loadImage(store, 'busybox');
    expect(img.descriptor.digest).toBe(busyboxManifest);
    expect(img.layers).toHaveLength(1);
  });

  it('saves an oci-archive that skopeo inspects and umoci unpacks with the same files', async () => {
    const file = join(dir, 'bb-oci.tar');
    await saveArchive(store, [{ name: 'docker.io/library/busybox:latest', descriptor: (await loadImage(store, 'busybox')).descriptor }], file, 'oci');
    const insp = sh('skopeo', ['inspect', '--raw', `oci-archive:${file}:latest`]);
    expect(insp.code, insp.stderr).toBe(0);
    expect(JSON.parse(insp.stdout).layers).toHaveLength(1);
    const cfg = sh('skopeo', ['inspect', `oci-archive:${file}:latest`]);
    expect(cfg.code, cfg.stderr).toBe(0);
    expect(JSON.parse(cfg.stdout).Digest).toBe(busyboxManifest);

    // umoci unpacks our archive (via a layout dir) into the same tree as the original layout
    const ours = join(dir, 'ours-layout');
    sh('mkdir', ['-p', ours]);
    expect(sh('tar', ['-xf', file, '-C', ours]).code).toBe(0);
    const a = sh('umoci', ['unpack', '--image', `${ours}:latest`, join(dir, 'unpack-ours')]);
    expect(a.code, a.stderr).toBe(0);
    const b = sh('umoci', ['unpack', '--image', `${layout()}:latest`, join(dir, 'unpack-orig')]);
    expect(b.code, b.stderr).toBe(0);
    const ours_ = files(join(dir, 'unpack-ours/rootfs'));
    expect(ours_.length).toBeGreaterThan(100);
    expect(ours_).toEqual(files(join(dir, 'unpack-orig/rootfs')));
    expect(await readFile(join(dir, 'unpack-ours/rootfs/etc/passwd'), 'utf8')).toContain('root:x:0:0');
  });

  it('saves a docker-archive that skopeo accepts, and loads it back with the same image ID', async () => {
    const file = join(dir, 'bb-docker.tar');
    const img = await loadImage(store, 'busybox');
    await saveArchive(store, [{ name: 'docker.io/library/busybox:latest', descriptor: img.descriptor }], file, 'docker');
    const insp = sh('skopeo', ['inspect', `docker-archive:${file}`]);
    expect(insp.code, insp.stderr).toBe(0);
    const info = JSON.parse(insp.stdout);
    expect(info.Layers).toEqual([img.layers[0]!.diffId]); // uncompressed layer.tar: its digest is the diff_id
    expect(info.RepoTags ?? []).toBeDefined();
    const listing = sh('tar', ['-tf', file]).stdout;
    expect(listing).toContain('manifest.json');
    expect(listing).toContain('repositories');
    const s2 = await openStore(join(dir, 'store-docker'));
    const { format, images } = await loadArchive(s2, file);
    expect(format).toBe('docker');
    expect(images[0]!.name).toBe('docker.io/library/busybox:latest');
    const back = await loadImage(s2, 'busybox');
    expect(back.manifest.config.digest).toBe(img.manifest.config.digest);
    expect(back.config.rootfs.diff_ids).toEqual(img.config.rootfs.diff_ids);
  });

  it('loads archives written by skopeo with digests unchanged', async () => {
    const ociFile = join(dir, 'skopeo-oci.tar');
    const dockerFile = join(dir, 'skopeo-docker.tar');
    let r = sh('skopeo', ['copy', `oci:${layout()}:latest`, `oci-archive:${ociFile}:latest`]);
    expect(r.code, r.stderr).toBe(0);
    r = sh('skopeo', ['copy', `oci:${layout()}:latest`, `docker-archive:${dockerFile}:example.com/team/bb:v1`]);
    expect(r.code, r.stderr).toBe(0);
    const skopeoManifest = JSON.parse(sh('skopeo', ['inspect', `oci-archive:${ociFile}:latest`]).stdout).Digest as string;

    const s = await openStore(join(dir, 'store-skopeo'));
    const oci = await loadArchive(s, ociFile, { defaultName: 'from-oci' });
    expect(oci.format).toBe('oci');
    expect(oci.images[0]!.descriptor.digest).toBe(skopeoManifest);
    expect((await loadImage(s, 'from-oci')).descriptor.digest).toBe(skopeoManifest);

    const dock = await loadArchive(s, dockerFile);
    expect(dock.format).toBe('docker');
    expect(dock.images[0]!.name).toBe('example.com/team/bb:v1');
    const orig = await loadImage(store, 'busybox');
    const loaded = await loadImage(s, 'example.com/team/bb:v1');
    expect(loaded.config.rootfs.diff_ids).toEqual(orig.config.rootfs.diff_ids);
    // skopeo keeps the config bytes, so the image ID (config digest) is the same
    expect(loaded.manifest.config.digest).toBe(orig.manifest.config.digest);
  });

  it('writes a distributable (gzip) form of an image with uncompressed layers, once', async () => {
    const s = await openStore(join(dir, 'store-dist'));
    const file = join(dir, 'bb-docker.tar');
    await loadArchive(s, file); // docker-archive layers are uncompressed
    const plain = await loadImage(s, 'busybox');
    expect(plain.layers[0]!.descriptor.mediaType).toBe('application/vnd.oci.image.layer.v1.tar');
    const dist = await distributableImage(s, plain);
    expect(dist.layers[0]!.descriptor.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    expect(dist.manifest.config.digest).toBe(plain.manifest.config.digest);
    const again = await distributableImage(s, plain);
    expect(again.descriptor.digest).toBe(dist.descriptor.digest);
    const blobCount = (await readdir(join(s.root, 'blobs/sha256'))).length;
    await distributableImage(s, plain);
    expect((await readdir(join(s.root, 'blobs/sha256'))).length).toBe(blobCount);
    // the gzip form unpacks to the same tree
    const out = join(dir, 'dist-oci.tar');
    await saveArchive(s, [{ name: 'docker.io/library/dist:1', descriptor: dist.descriptor }], out, 'oci');
    const r = sh('skopeo', ['inspect', `oci-archive:${out}:1`]);
    expect(r.code, r.stderr).toBe(0);
  });
});

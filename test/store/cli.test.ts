import { utimes, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { sh, tempDir } from '../image/helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
let root: string;
let manifest: string;

function capture() {
  let text = '';
  const stream = new Writable({ write(c, _e, cb) { text += String(c); cb(); } });
  return { stream, get text() { return text; } };
}

async function tsbuild(...argv: string[]) {
  const out = capture();
  const err = capture();
  const code = await main(['--root', root, ...argv], { stdout: out.stream, stderr: err.stream, env: { HOME: '/nonexistent' } });
  return { code, stdout: out.text, stderr: err.text };
}

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  root = join(dir, 'root');
  const r = sh('bash', [join(import.meta.dirname, '../../testdata/make-busybox-image.sh'), join(dir, 'layout')]);
  if (r.code !== 0) throw new Error(r.stderr);
  manifest = r.stdout.trim();
});
afterAll(async () => cleanup());

describe('image commands', () => {
  it('load, images, inspect, tag, save, rmi, prune', async () => {
    let r = await tsbuild('load', '-i', join(dir, 'layout'), '-t', 'busybox');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('Loaded image: busybox:latest\n');

    r = await tsbuild('images', '--format', 'json');
    const list = JSON.parse(r.stdout);
    expect(list).toEqual([expect.objectContaining({ name: 'busybox:latest', digest: manifest, created: '1970-01-01T00:00:00Z' })]);
    expect(list[0].size).toBeGreaterThan(100_000);
    r = await tsbuild('images');
    expect(r.stdout).toMatch(/^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE\nbusybox\s+latest\s+[0-9a-f]{12}\s+/);

    r = await tsbuild('tag', 'busybox', 'localhost:5000/me/bb:1');
    expect(r.code, r.stderr).toBe(0);
    r = await tsbuild('inspect', 'localhost:5000/me/bb:1');
    expect(r.code, r.stderr).toBe(0);
    const [info] = JSON.parse(r.stdout);
    expect(info.RepoTags.sort()).toEqual(['busybox:latest', 'localhost:5000/me/bb:1']);
    expect(info.RepoDigests).toContain(`busybox@${manifest}`);
    expect(info.Os).toBe('linux');
    expect(info.Config.Cmd).toEqual(['sh']);
    expect(info.RootFS.Layers).toHaveLength(1);
    expect(info.Manifest.layers).toHaveLength(1);
    expect(info.Id).toMatch(/^sha256:/);
    // by image ID prefix too
    r = await tsbuild('inspect', info.Id.slice(7, 19));
    expect(r.code, r.stderr).toBe(0);

    const oci = join(dir, 'out.tar');
    r = await tsbuild('save', '-o', oci, 'busybox', 'localhost:5000/me/bb:1');
    expect(r.code, r.stderr).toBe(0);
    expect(sh('skopeo', ['inspect', `oci-archive:${oci}:latest`]).code).toBe(0);
    const dockerTar = join(dir, 'out-docker.tar');
    r = await tsbuild('save', '--format', 'docker', '-o', dockerTar, 'busybox');
    expect(r.code, r.stderr).toBe(0);
    expect(sh('skopeo', ['inspect', `docker-archive:${dockerTar}`]).code).toBe(0);

    r = await tsbuild('rmi', 'busybox', 'localhost:5000/me/bb:1');
    expect(r.stdout).toBe('Untagged: busybox:latest\nUntagged: localhost:5000/me/bb:1\n');
    r = await tsbuild('inspect', 'busybox');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('tsbuild: image "busybox" not found in the local store\n');

    // blobs written just now are newer than any GC start would be: age them first
    for (const f of await readdir(join(root, 'blobs/sha256'))) await utimes(join(root, 'blobs/sha256', f), 1_000_000, 1_000_000);
    r = await tsbuild('prune');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Deleted 3 blobs; reclaimed /);

    r = await tsbuild('load', '-i', oci);
    expect(r.stdout).toBe('Loaded image: busybox:latest\nLoaded image: localhost:5000/me/bb:1\n');
    r = await tsbuild('load', '-i', dockerTar);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('Loaded image: busybox:latest\n');
  });

  it('reports errors as one line', async () => {
    let r = await tsbuild('save', 'busybox');
    expect(r.code).toBe(2);
    r = await tsbuild('load', '-i', join(dir, 'nope.tar'));
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    r = await tsbuild('tag', 'nothere', 'x');
    expect(r.stderr).toBe('tsbuild: image "nothere" not found in the local store\n');
  });
});

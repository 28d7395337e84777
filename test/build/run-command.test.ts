import { readdirSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { mergeEnv } from '../../src/cli/commands/run.js';
import { openStore } from '../../src/store/store.js';
import { snapshotDir } from '../../src/build/snapshot/layer-cache.js';
import { makeBusyboxImage, mountsUnder, runcList } from './runtime-fixtures.js';

let root: string;
let diffId: `${string}:${string}`;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'tsbuild-runcmd-'));
  const image = await makeBusyboxImage();
  diffId = image.layer.diffId;
  // The layout's blobs go straight into the store's documented blobs/sha256/<hex> layout (an OCI
  // layout import is another command's job), the name through the image store.
  const store = await openStore(root);
  const blobs = join(image.layoutDir, 'blobs', 'sha256');
  for (const hex of readdirSync(blobs)) await copyFile(join(blobs, hex), join(root, 'blobs', 'sha256', hex));
  const index = JSON.parse(await readFile(join(image.layoutDir, 'index.json'), 'utf8'));
  await store.images.set('busybox:latest', index.manifests[0]);
  await image.cleanup();
});

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

async function cli(...argv: string[]) {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  err.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const code = await main(['--root', root, ...argv], { stdout: out, stderr: err, env: { ...process.env, FROMHOST: 'h' } });
  return { code, stdout, stderr };
}

describe('tsbuild run', () => {
  it('runs a command in a stored image and exits with its code', async () => {
    const r = await cli('run', '--rm', 'busybox', 'sh', '-c', 'echo hi from $(hostname); exit 3');
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('hi from tsbuild\n');
    expect(r.code).toBe(3);
    // The layer was unpacked once into its content-addressed snapshot, and nothing stays mounted.
    expect(readdirSync(snapshotDir(root, diffId as never)).length).toBeGreaterThan(5);
    expect(mountsUnder(root)).toEqual([]);
    expect(runcList().filter((id) => id.startsWith('tsbuild-'))).toEqual([]);
  });

  it('uses the image env plus -e, user and workdir flags, and network none', async () => {
    const r = await cli('run', '-e', 'A=1', '-e', 'FROMHOST', '--network', 'none', '-u', 'nobody', '-w', '/tmp', 'busybox',
      'sh', '-c', 'echo $A $FROMHOST $PATH; id -u; pwd; ls /sys/class/net');
    expect(r.stdout).toBe('1 h /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n65534\n/tmp\nlo\n');
    expect(r.code).toBe(0);
  });

  it('does not keep what the container wrote', async () => {
    expect((await cli('run', 'busybox', 'sh', '-c', 'echo x > /keep')).code).toBe(0);
    const r = await cli('run', 'busybox', 'ls', '/keep');
    expect(r.code).not.toBe(0);
  });

  it('fails in one line for an unknown image, a bad network, and crun on this host', async () => {
    const missing = await cli('run', 'nosuchimage', 'true');
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    const bad = await cli('run', '--network', 'bridge', 'busybox', 'true');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('tsbuild: invalid --network "bridge" (host or none)\n');
    const crun = await cli('run', '--runtime', 'crun', 'busybox', 'echo', 'ok');
    if (crun.code === 0) expect(crun.stdout).toBe('ok\n');
    // crun's own complaint streams through first, like any runtime output; then our one line.
    else expect(crun.stderr).toMatch(/\ntsbuild: crun refuses this host's cgroup setup .*; use --runtime runc\n$/);
  });

  it('merges -e over the image env', () => {
    expect(mergeEnv(['PATH=/bin', 'A=1'], ['A=2', 'B', 'C=3'], { B: 'b' })).toEqual(['PATH=/bin', 'A=2', 'B=b', 'C=3']);
  });
});

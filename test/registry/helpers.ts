import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A free loopback port (docker-registry needs one in its config; the tiny race is acceptable in tests). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface RunningRegistry {
  host: string;
  url: string;
  root: string;
  close(): Promise<void>;
}

/** Debian's docker-registry (distribution v2) on a loopback port, storage in a temp dir. */
export async function startDistribution(opts: { htpasswd?: string } = {}): Promise<RunningRegistry> {
  const root = mkdtempSync(join(tmpdir(), 'tsbuild-distribution-'));
  const port = await freePort();
  const auth = opts.htpasswd ? `auth:\n  htpasswd:\n    realm: test\n    path: ${opts.htpasswd}\n` : '';
  const config = `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${root}/data\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n${auth}`;
  writeFileSync(join(root, 'config.yml'), config);
  const child: ChildProcess = spawn('/usr/bin/docker-registry', ['serve', join(root, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString()).slice(-4000);
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      const r = await fetch(`${url}/v2/`);
      await r.arrayBuffer();
      break;
    } catch {
      if (i > 100 || child.exitCode !== null) {
        child.kill();
        throw new Error(`docker-registry did not start: ${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    host: `127.0.0.1:${port}`,
    url,
    root,
    async close() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** The busybox OCI layout from testdata (deterministic), made once per call into `dir`. */
export function makeBusybox(dir: string): string {
  return execFileSync('bash', [join(dirname(fileURLToPath(import.meta.url)), '../../testdata/make-busybox-image.sh'), dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `tsbuild-${prefix}-`));
}

/**
 * Adds `count` crafted layers (a tar with one file of random bytes, gzipped) on top of the
 * busybox image in an OCI layout and names the result `tag`. Returns the new manifest digest.
 */
export async function addLayers(layoutDir: string, count: number, bytesPerLayer: number, tag = 'multi'): Promise<{ digest: string; layers: string[] }> {
  const { readFileSync, writeFileSync: write } = await import('node:fs');
  const { createHash, randomBytes } = await import('node:crypto');
  const { gzipSync } = await import('node:zlib');
  const tarStream = await import('tar-stream');
  const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  const blob = (d: string) => join(layoutDir, 'blobs', 'sha256', d.slice(7));
  const index = JSON.parse(readFileSync(join(layoutDir, 'index.json'), 'utf8'));
  const baseDesc = index.manifests[0];
  const base = JSON.parse(readFileSync(blob(baseDesc.digest), 'utf8'));
  const config = JSON.parse(readFileSync(blob(base.config.digest), 'utf8'));
  const layers = [...base.layers];
  const added: string[] = [];
  for (let i = 0; i < count; i++) {
    const pack = tarStream.pack();
    const chunks: Buffer[] = [];
    pack.on('data', (c: unknown) => chunks.push(c as Buffer));
    const done = new Promise<void>((r) => pack.on('end', () => r()));
    pack.entry({ name: `layer${i}.bin`, size: bytesPerLayer, mtime: new Date(0), uid: 0, gid: 0 }, randomBytes(bytesPerLayer));
    pack.finalize();
    await done;
    const tar = Buffer.concat(chunks);
    const gz = gzipSync(tar, { level: 1 });
    const d = sha(gz);
    write(blob(d), gz);
    layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d, size: gz.length });
    config.rootfs.diff_ids.push(sha(tar));
    config.history.push({ created: '1970-01-01T00:00:00Z', created_by: `test layer ${i}` });
    added.push(d);
  }
  const configBytes = Buffer.from(JSON.stringify(config));
  write(blob(sha(configBytes)), configBytes);
  const manifest = Buffer.from(JSON.stringify({ ...base, config: { ...base.config, digest: sha(configBytes), size: configBytes.length }, layers }));
  const md = sha(manifest);
  write(blob(md), manifest);
  index.manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: md, size: manifest.length, platform: baseDesc.platform, annotations: { 'org.opencontainers.image.ref.name': tag } });
  write(join(layoutDir, 'index.json'), JSON.stringify(index));
  return { digest: md, layers: added };
}

/** Adds an index naming `linux/amd64` -> busybox and `linux/arm64` -> the multi-layer image. */
export function addIndex(layout: string, tag: string): { digest: string; children: string[] } {
  const index = JSON.parse(readFileSync(`${layout}/index.json`, 'utf8'));
  const [bb, multi] = index.manifests;
  const child = (d: { digest: string; size: number; mediaType: string }, architecture: string) => ({ mediaType: d.mediaType, digest: d.digest, size: d.size, platform: { os: 'linux', architecture } });
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [child(bb, 'amd64'), child(multi, 'arm64')] }));
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  writeFileSync(`${layout}/blobs/sha256/${digest.slice(7)}`, bytes);
  index.manifests.push({ mediaType: 'application/vnd.oci.image.index.v1+json', digest, size: bytes.length, annotations: { 'org.opencontainers.image.ref.name': tag } });
  writeFileSync(`${layout}/index.json`, JSON.stringify(index));
  return { digest, children: [bb.digest, multi.digest] };
}


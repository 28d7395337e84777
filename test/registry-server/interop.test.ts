// Real clients against the real server: skopeo pushes the busybox OCI layout in and copies it back
// out, open, with basic auth, with Bearer tokens from our /token endpoint, and over TLS.
import { execFile, execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busyboxLayout, hasCommand, http, tempDir, testRegistry } from './helpers.js';

const run = promisify(execFile);
const haveSkopeo = hasCommand('skopeo');
const haveHtpasswd = hasCommand('htpasswd');
if (!haveSkopeo) console.warn('skipping skopeo interop: skopeo is not installed (scripts/install-deps.sh installs it)');

describe.skipIf(!haveSkopeo || !haveHtpasswd)('skopeo interop', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let layout: { dir: string; digest: string };
  let env: NodeJS.ProcessEnv;
  let htpasswd: string;
  let policy: string;

  beforeAll(async () => {
    dir = await tempDir('tsbuild-registry-interop-');
    layout = busyboxLayout(dir.path);
    policy = join(dir.path, 'policy.json');
    await writeFile(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    env = { ...process.env, REGISTRY_AUTH_FILE: join(dir.path, 'auth.json'), HOME: dir.path };
    htpasswd = join(dir.path, 'htpasswd');
    await writeFile(htpasswd, execFileSync('htpasswd', ['-Bbn', 'alice', 's3cret'], { encoding: 'utf8' }));
  });
  afterAll(async () => {
    await dir?.cleanup();
  });

  const skopeo = (...args: string[]) => run('skopeo', ['--policy', policy, ...args], { env, maxBuffer: 64 << 20 });

  /** Copies the layout in and back out; checks the manifest digest and every blob survived. */
  async function roundTrip(host: string, tag: string, opts: { destArgs?: string[]; srcArgs?: string[] } = {}): Promise<void> {
    await skopeo('copy', '--dest-tls-verify=false', ...(opts.destArgs ?? []), `oci:${layout.dir}:latest`, `docker://${host}/test/busybox:${tag}`);
    const raw = await skopeo('inspect', '--raw', '--tls-verify=false', ...(opts.srcArgs ?? []).map((a) => a.replace('--src-', '--')), `docker://${host}/test/busybox:${tag}`);
    const { createHash } = await import('node:crypto');
    expect(`sha256:${createHash('sha256').update(raw.stdout).digest('hex')}`).toBe(layout.digest);
    const out = join(dir.path, `out-${tag}`);
    await skopeo('copy', '--src-tls-verify=false', ...(opts.srcArgs ?? []), `docker://${host}/test/busybox:${tag}`, `oci:${out}:latest`);
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8'));
    expect(index.manifests[0].digest).toBe(layout.digest);
    const manifest = JSON.parse(await readFile(join(out, 'blobs', 'sha256', layout.digest.slice(7)), 'utf8'));
    for (const d of [manifest.config.digest, ...manifest.layers.map((l: { digest: string }) => l.digest)]) {
      const a = await readFile(join(out, 'blobs', 'sha256', d.slice(7)));
      const b = await readFile(join(layout.dir, 'blobs', 'sha256', d.slice(7)));
      expect(a.equals(b), d).toBe(true);
    }
  }

  it('copies busybox in and out with identical digests (open registry)', async () => {
    const reg = await testRegistry();
    try {
      await roundTrip(reg.host, 'open');
      // A second push finds every blob present and only writes the manifest.
      await skopeo('copy', '--dest-tls-verify=false', `oci:${layout.dir}:latest`, `docker://${reg.host}/test/busybox:again`);
      const tags = (await http('GET', `${reg.url}/v2/test/busybox/tags/list`)).json().tags;
      expect(tags).toEqual(['again', 'open']);
      const line = JSON.parse(reg.logs.find((l) => l.includes('"PUT"'))!);
      expect(line).toMatchObject({ method: 'PUT', status: 201 });
    } finally {
      await reg.stop();
    }
  });

  it('with basic auth: refused without credentials, works with them', async () => {
    const reg = await testRegistry({ htpasswd });
    try {
      await expect(skopeo('copy', '--dest-tls-verify=false', `oci:${layout.dir}:latest`, `docker://${reg.host}/test/busybox:x`)).rejects.toThrow(/unauthorized|authentication required|401/i);
      await expect(skopeo('copy', '--dest-tls-verify=false', '--dest-creds', 'alice:wrong', `oci:${layout.dir}:latest`, `docker://${reg.host}/test/busybox:x`)).rejects.toThrow();
      await roundTrip(reg.host, 'basic', { destArgs: ['--dest-creds', 'alice:s3cret'], srcArgs: ['--src-creds', 'alice:s3cret'] });
      expect(reg.logs.some((l) => JSON.parse(l).user === 'alice')).toBe(true);
    } finally {
      await reg.stop();
    }
  });

  it('with Bearer tokens from our /token endpoint', async () => {
    const reg = await testRegistry({ htpasswd, auth: 'token' });
    try {
      await roundTrip(reg.host, 'token', { destArgs: ['--dest-creds', 'alice:s3cret'], srcArgs: ['--src-creds', 'alice:s3cret'] });
      const tokenRequests = reg.logs.map((l) => JSON.parse(l)).filter((l) => String(l.uri).startsWith('/token'));
      expect(tokenRequests.length).toBeGreaterThan(0);
      expect(tokenRequests.every((l) => l.status === 200 && l.user === 'alice')).toBe(true);
      await expect(skopeo('inspect', '--raw', '--tls-verify=false', '--creds', 'alice:nope', `docker://${reg.host}/test/busybox:token`)).rejects.toThrow();
    } finally {
      await reg.stop();
    }
  });

  it('over TLS (skopeo with tls-verify=false, node with the CA)', async () => {
    const cert = join(dir.path, 'cert.pem');
    const key = join(dir.path, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const reg = await testRegistry({ tls: { cert, key } });
    try {
      expect(reg.url).toMatch(/^https:\/\//);
      const r = await http('GET', `${reg.url}/v2/`, { ca: await readFile(cert, 'utf8') });
      expect(r.status).toBe(200);
      await roundTrip(reg.host, 'tls');
    } finally {
      await reg.stop();
    }
  });
});

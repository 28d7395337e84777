// podman, a real docker-compatible client, against our registry and our archives: push/pull with
// identical digests (open, basic auth after `podman login`, Bearer tokens from our /token), an image
// built and pushed by tsbuild pulled and run by podman, and archives exchanged both ways with
// `podman load`/`podman save`. Everything stays on loopback and in throwaway podman storage.
import { execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningRegistry, startRegistry } from '../../registry-server/server.js';
import { runCli } from '../helpers/cli.js';

const REPO_ROOT = resolve(import.meta.dirname, '../..');

function hasCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const havePodman = hasCommand('podman');
const haveHtpasswd = hasCommand('htpasswd');
if (!havePodman) console.warn('skipping podman interop: podman is not installed (apt-get install --no-install-recommends podman)');
if (havePodman && !haveHtpasswd) console.warn('skipping podman interop: htpasswd (apache2-utils) is not installed');

interface Podman {
  (...args: string[]): Promise<string>;
  withStdin(input: string, ...args: string[]): Promise<string>;
}

interface Registry extends RunningRegistry {
  logs: string[];
}

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const ACCEPT = [OCI_MANIFEST, 'application/vnd.docker.distribution.manifest.v2+json', 'application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json'].join(', ');

const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe.skipIf(!havePodman || !haveHtpasswd)('podman interop', () => {
  let work: string;
  let layout: string;
  let layoutConfig: string;
  let open: Registry;
  let basic: Registry;
  let token: Registry;
  let env: NodeJS.ProcessEnv;
  let regsConf: string;
  let storeCount = 0;

  beforeAll(async () => {
    // Lowercase only: podman names an image pulled from oci:PATH after PATH, and names are lowercase.
    work = join(tmpdir(), `tsbuild-podman-${randomBytes(8).toString('hex')}`);
    await mkdir(work);
    layout = join(work, 'busybox');
    execFileSync('bash', [join(REPO_ROOT, 'testdata/make-busybox-image.sh'), layout], { stdio: 'ignore' });
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
    const manifest = JSON.parse(await readFile(join(layout, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'));
    layoutConfig = manifest.config.digest;

    const htpasswd = join(work, 'htpasswd');
    await writeFile(htpasswd, execFileSync('htpasswd', ['-Bbn', 'alice', 's3cret'], { encoding: 'utf8' }));
    const start = async (opts: { htpasswd?: string; auth?: 'token' }): Promise<Registry> => {
      const logs: string[] = [];
      const root = await mkdtemp(join(work, 'registry-'));
      const reg = await startRegistry({ addr: '127.0.0.1:0', root, log: (l) => logs.push(l), ...opts });
      return { ...reg, logs };
    };
    open = await start({});
    basic = await start({ htpasswd });
    token = await start({ htpasswd, auth: 'token' });

    // No search registries (nothing may reach docker.io) and our plain-HTTP loopback registries marked
    // insecure, for the podman commands that have no --tls-verify flag (manifest inspect).
    regsConf = join(work, 'registries.conf');
    await writeFile(regsConf, [open, basic, token].map((r) => `[[registry]]\nlocation = "${r.host}"\ninsecure = true\n`).join('\n'));
    const authFile = join(work, 'auth.json');
    await writeFile(authFile, '{}');
    env = { ...process.env, HOME: work, REGISTRY_AUTH_FILE: authFile, TMPDIR: work, CONTAINERS_REGISTRIES_CONF: regsConf };
  }, 60_000);

  afterAll(async () => {
    await Promise.all([open, basic, token].map((r) => r?.close()));
    if (!work) return;
    // podman may leave a shm tmpfs or an image mount under its runroot; never leave a mount behind.
    const mounts = readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1] ?? '')
      .filter((m) => m.startsWith(work))
      .sort()
      .reverse();
    for (const m of mounts) {
      try {
        execFileSync('umount', ['-l', m], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
    await rm(work, { recursive: true, force: true });
  });

  /** Fresh, private podman storage (vfs: no host storage, no overlay mounts), run by root. */
  async function podmanStore(): Promise<Podman> {
    const dir = join(work, `podman-${storeCount++}`);
    await mkdir(dir);
    const global = [
      '--root', join(dir, 'root'), '--runroot', join(dir, 'run'), '--storage-driver', 'vfs',
      '--registries-conf', regsConf, '--events-backend', 'none',
      // `podman run --cgroups disabled` works only with crun, and crun refuses this VM's hybrid cgroup
      // hierarchy; podman refuses runc with NoCgroups. So containers run under runc with cgroupfs.
      '--runtime', 'runc', '--cgroup-manager', 'cgroupfs', '--tmpdir', join(dir, 'tmp'),
    ];
    const p = (...args: string[]) => podmanRun(global, args);
    p.withStdin = (input: string, ...args: string[]) => podmanRun(global, args, input);
    return p;
  }

  function podmanRun(global: string[], args: string[], input?: string): Promise<string> {
    return new Promise((resolvePromise, reject) => {
      const child = execFile('podman', [...global, ...args], { env, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`podman ${args.join(' ')} failed: ${(stderr || err.message).trim()}`));
        else resolvePromise(stdout);
      });
      if (input !== undefined) child.stdin?.end(input);
    });
  }

  /** The manifest as our registry serves it (open registry), checked against its Docker-Content-Digest. */
  async function manifestOf(reg: Registry, repo: string, ref: string): Promise<{ bytes: Buffer; type: string; json: any }> {
    const r = await fetch(`${reg.url}/v2/${repo}/manifests/${ref}`, { headers: { Accept: ACCEPT } });
    expect(r.status, `GET manifest ${repo}:${ref}`).toBe(200);
    const bytes = Buffer.from(await r.arrayBuffer());
    expect(r.headers.get('docker-content-digest')).toBe(sha256(bytes));
    return { bytes, type: r.headers.get('content-type') ?? '', json: JSON.parse(bytes.toString('utf8')) };
  }

  async function inspect(podman: Podman, name: string): Promise<any> {
    return JSON.parse(await podman('image', 'inspect', name))[0];
  }

  /** Loads the busybox OCI layout into a podman store (podman 4 cannot push from oci: directly) and names it. */
  async function busyboxIn(podman: Podman, name: string): Promise<void> {
    const id = (await podman('pull', '-q', `oci:${layout}:latest`)).trim();
    expect(`sha256:${id}`).toBe(layoutConfig);
    await podman('tag', id, name);
  }

  it('push to our registry, pull back: identical digests; manifest inspect and image inspect agree', async () => {
    const a = await podmanStore();
    const name = `${open.host}/test/busybox:v1`;
    await busyboxIn(a, name);
    const digestFile = join(work, 'pushed.digest');
    await a('push', '-q', '--tls-verify=false', '--digestfile', digestFile, name);
    const pushed = (await readFile(digestFile, 'utf8')).trim();

    // What our registry serves is byte for byte what podman pushed.
    const served = await manifestOf(open, 'test/busybox', 'v1');
    expect(sha256(served.bytes)).toBe(pushed);
    expect(served.json.config.digest).toBe(layoutConfig);
    expect((await manifestOf(open, 'test/busybox', pushed)).bytes.equals(served.bytes)).toBe(true);

    const b = await podmanStore();
    await b('pull', '-q', '--tls-verify=false', name);
    const img = await inspect(b, name);
    expect(img.Digest).toBe(pushed);
    expect(img.RepoDigests).toContain(`${open.host}/test/busybox@${pushed}`);
    expect(`sha256:${img.Id}`).toBe(layoutConfig);
    expect(img.RootFS.Layers).toHaveLength(served.json.layers.length);

    // An index built by podman, pushed to us and read back by podman (4.x `manifest inspect` reads indexes).
    const list = `${open.host}/test/busybox:list`;
    await a('manifest', 'create', list);
    await a('manifest', 'add', '--tls-verify=false', list, `docker://${name}`);
    const listDigestFile = join(work, 'list.digest');
    await a('manifest', 'push', '--all', '--tls-verify=false', '--digestfile', listDigestFile, list, `docker://${list}`);
    const listDigest = (await readFile(listDigestFile, 'utf8')).trim();
    const servedList = await manifestOf(open, 'test/busybox', 'list');
    expect(sha256(servedList.bytes)).toBe(listDigest);
    const inspected = JSON.parse(await b('manifest', 'inspect', list));
    expect(inspected.manifests.map((m: { digest: string }) => m.digest)).toEqual([pushed]);
    expect(inspected.manifests[0].digest).toBe(img.Digest);
    expect(inspected.manifests[0].platform).toMatchObject({ os: 'linux' });
    expect(servedList.json.manifests[0].digest).toBe(pushed);
  }, 60_000);

  it('Docker schema2 push, cross-repository mount, pull by digest, search and tag listing', async () => {
    const a = await podmanStore();
    const first = `${open.host}/mount/source:v1`;
    const second = `${open.host}/mount/target:v2s2`;
    await busyboxIn(a, first);
    await a('tag', first, second);
    await a('push', '-q', '--tls-verify=false', first);
    const digestFile = join(work, 'v2s2.digest');
    await a('push', '-q', '--tls-verify=false', '--format', 'v2s2', '--digestfile', digestFile, second);
    const pushed = (await readFile(digestFile, 'utf8')).trim();

    const served = await manifestOf(open, 'mount/target', 'v2s2');
    expect(served.type).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(served.json.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(sha256(served.bytes)).toBe(pushed);
    // podman's blob info cache remembers where it pushed the layer, so it asks us to mount it from
    // mount/source rather than upload it again; every request of the second push succeeded.
    const target = open.logs.map((l) => JSON.parse(l)).filter((l) => String(l.uri).startsWith('/v2/mount/target/') && l.method !== 'HEAD');
    expect(target.every((l) => l.status < 400)).toBe(true);
    const mounts = target.filter((l) => l.method === 'POST' && String(l.uri).includes('mount='));
    expect(mounts.length).toBeGreaterThan(0);
    expect(mounts.every((l) => l.status === 201 && String(l.uri).includes('from=mount%2Fsource'))).toBe(true);

    const b = await podmanStore();
    await b('pull', '-q', '--tls-verify=false', `${open.host}/mount/target@${pushed}`);
    const img = await inspect(b, `${open.host}/mount/target@${pushed}`);
    expect(img.Digest).toBe(pushed);
    expect(`sha256:${img.Id}`).toBe(layoutConfig);

    // podman search falls back from /v1/search to our _catalog; --list-tags reads tags/list.
    const found = JSON.parse(await b('search', '--format', 'json', '--tls-verify=false', `${open.host}/mount`));
    expect(found.map((r: { Name: string }) => r.Name)).toEqual(expect.arrayContaining([`${open.host}/mount/source`, `${open.host}/mount/target`]));
    const tags = JSON.parse(await b('search', '--list-tags', '--format', 'json', '--tls-verify=false', `${open.host}/mount/target`));
    expect(tags[0].Tags).toEqual(['v2s2']);
  }, 60_000);

  for (const mode of ['basic', 'token'] as const) {
    it(`push and pull with ${mode === 'basic' ? 'basic auth' : 'Bearer tokens from our /token'} after podman login`, async () => {
      const reg = mode === 'basic' ? basic : token;
      const a = await podmanStore();
      const name = `${reg.host}/secure/busybox:${mode}`;
      await busyboxIn(a, name);
      const authFile = join(work, `auth-${mode}.json`);
      await writeFile(authFile, '{}');
      await expect(a('push', '-q', '--tls-verify=false', '--authfile', authFile, name)).rejects.toThrow(/unauthorized|authentication required|401/i);
      await expect(a.withStdin('wrong\n', 'login', '--tls-verify=false', '--authfile', authFile, '-u', 'alice', '--password-stdin', reg.host)).rejects.toThrow();
      await a.withStdin('s3cret\n', 'login', '--tls-verify=false', '--authfile', authFile, '-u', 'alice', '--password-stdin', reg.host);

      const digestFile = join(work, `${mode}.digest`);
      await a('push', '-q', '--tls-verify=false', '--authfile', authFile, '--digestfile', digestFile, name);
      const pushed = (await readFile(digestFile, 'utf8')).trim();
      const b = await podmanStore();
      await b('pull', '-q', '--tls-verify=false', '--authfile', authFile, name);
      const img = await inspect(b, name);
      expect(img.Digest).toBe(pushed);
      expect(`sha256:${img.Id}`).toBe(layoutConfig);

      const lines = reg.logs.map((l) => JSON.parse(l));
      expect(lines.some((l) => l.method === 'PUT' && String(l.uri).includes('/manifests/') && l.status === 201 && l.user === 'alice')).toBe(true);
      if (mode === 'token') {
        // podman followed the Bearer challenge to our /token endpoint and came back with a token.
        const tokens = lines.filter((l) => String(l.uri).startsWith('/token'));
        expect(tokens.some((l) => l.status === 200 && l.user === 'alice')).toBe(true);
        expect(tokens.some((l) => /scope=repository%3Asecure%2Fbusybox%3A(pull%2Cpush|push%2Cpull)|scope=repository:secure\/busybox:(pull,push|push,pull)/.test(String(l.uri)))).toBe(true);
      }
      await a('logout', '--authfile', authFile, reg.host);
      const b2 = await podmanStore();
      await expect(b2('pull', '-q', '--tls-verify=false', '--authfile', authFile, name)).rejects.toThrow(/unauthorized|authentication required|401/i);
    }, 60_000);
  }

  it('over TLS with certificate verification on (podman --cert-dir with our CA)', async () => {
    const certs = join(work, 'certs');
    const caDir = join(work, 'ca');
    await mkdir(certs);
    await mkdir(caDir);
    const cert = join(certs, 'cert.pem');
    const key = join(certs, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    await writeFile(join(caDir, 'ca.crt'), await readFile(cert));
    const root = await mkdtemp(join(work, 'registry-tls-'));
    const reg = await startRegistry({ addr: '127.0.0.1:0', root, tls: { cert, key } });
    try {
      expect(reg.url).toMatch(/^https:/);
      const a = await podmanStore();
      const name = `${reg.host}/tls/busybox:v1`;
      await busyboxIn(a, name);
      await expect(a('push', '-q', name)).rejects.toThrow(/x509|certificate/i);
      const digestFile = join(work, 'tls.digest');
      await a('push', '-q', '--cert-dir', caDir, '--digestfile', digestFile, name);
      const b = await podmanStore();
      await b('pull', '-q', '--cert-dir', caDir, name);
      const img = await inspect(b, name);
      expect(img.Digest).toBe((await readFile(digestFile, 'utf8')).trim());
      expect(`sha256:${img.Id}`).toBe(layoutConfig);
    } finally {
      await reg.close();
    }
  }, 60_000);

  describe('images built by tsbuild', () => {
    let buildRoot: string;
    let image: string;
    let configDigest: string;
    let manifestDigest: string;

    beforeAll(async () => {
      const base = `${open.host}/library/busybox:latest`;
      const copy = await runCli(['copy', `oci:${layout}:latest`, base]);
      expect(copy.code, copy.stderr).toBe(0);
      const ctx = join(work, 'context');
      await mkdir(ctx);
      await writeFile(join(ctx, 'message.txt'), 'copied by tsbuild\n');
      await writeFile(
        join(ctx, 'Dockerfile'),
        [
          `FROM ${base}`,
          'ENV GREETING=hello-from-tsbuild',
          'WORKDIR /app',
          'RUN echo "built in a RUN step" > /app/run.txt',
          'COPY message.txt /app/',
          'CMD ["sh", "-c", "cat /app/run.txt /app/message.txt; echo $GREETING; pwd"]',
          '',
        ].join('\n'),
      );
      buildRoot = join(work, 'tsbuild-store');
      image = `${open.host}/built/app:v1`;
      const build = await runCli(['--root', buildRoot, 'build', '-t', image, '--progress', 'plain', ctx]);
      expect(build.code, build.stderr).toBe(0);
      const push = await runCli(['--root', buildRoot, 'push', image]);
      expect(push.code, push.stderr).toBe(0);
      const served = await manifestOf(open, 'built/app', 'v1');
      manifestDigest = sha256(served.bytes);
      configDigest = served.json.config.digest;
    }, 120_000);

    it('are pulled and run by podman', async () => {
      const p = await podmanStore();
      await p('pull', '-q', '--tls-verify=false', image);
      const img = await inspect(p, image);
      expect(img.Digest).toBe(manifestDigest);
      expect(`sha256:${img.Id}`).toBe(configDigest);
      expect(img.Config.Env).toContain('GREETING=hello-from-tsbuild');
      expect(img.Config.WorkingDir).toBe('/app');

      // The files are there as podman unpacked them.
      const mnt = (await p('image', 'mount', image)).trim();
      try {
        expect(await readFile(join(mnt, 'app/run.txt'), 'utf8')).toBe('built in a RUN step\n');
        expect(await readFile(join(mnt, 'app/message.txt'), 'utf8')).toBe('copied by tsbuild\n');
      } finally {
        await p('image', 'unmount', image);
      }

      // `--cgroups disabled` needs crun, which refuses this VM's hybrid cgroup setup; runc with
      // cgroupfs works. podman's default rlimits (nofile 1048576) exceed this machine's hard limit.
      const out = await p('run', '--rm', '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', image);
      expect(out).toBe('built in a RUN step\ncopied by tsbuild\nhello-from-tsbuild\n/app\n');
    }, 60_000);

    for (const format of ['docker', 'oci'] as const) {
      it(`tsbuild save --format ${format} is loaded by podman load`, async () => {
        const archive = join(work, `saved-${format}.tar`);
        // A docker-archive carries two names for the built image, and podman load must restore both.
        // (podman 4's oci-archive reader refuses archives of more than one image, so OCI gets one.)
        const second = `${open.host}/built/second:${format}`;
        const tag = await runCli(['--root', buildRoot, 'tag', image, second]);
        expect(tag.code, tag.stderr).toBe(0);
        const names = format === 'docker' ? [image, second] : [image];
        const save = await runCli(['--root', buildRoot, 'save', '-o', archive, '--format', format, ...names]);
        expect(save.code, save.stderr).toBe(0);
        const p = await podmanStore();
        const loaded = await p('load', '-q', '-i', archive);
        const img = await inspect(p, configDigest.slice(7));
        expect(`sha256:${img.Id}`).toBe(configDigest);
        expect(img.Config.Cmd).toEqual(['sh', '-c', 'cat /app/run.txt /app/message.txt; echo $GREETING; pwd']);
        // podman names the image from the archive (docker: manifest.json RepoTags; oci: the
        // io.containerd.image.name annotation next to the tag-only ref.name).
        for (const n of names) expect(loaded).toContain(`Loaded image: ${n}`);
        expect([...img.RepoTags].sort()).toEqual([...names].sort());
        expect(new Set(JSON.parse(await p('images', '--format', 'json')).map((i: { Id: string }) => i.Id))).toEqual(new Set([img.Id]));
        const mnt = (await p('image', 'mount', img.Id)).trim();
        try {
          expect(await readFile(join(mnt, 'app/message.txt'), 'utf8')).toBe('copied by tsbuild\n');
        } finally {
          await p('image', 'unmount', img.Id);
        }
      }, 60_000);
    }
  });

  // docker-archive with two names for one image (--multi-image-archive), oci-archive, and an OCI
  // layout directory (oci-dir), which `tsbuild load` also reads.
  for (const format of ['docker-archive', 'oci-archive', 'oci-dir'] as const) {
    it(`podman save --format ${format} is loaded by tsbuild load with the same config digest`, async () => {
      const p = await podmanStore();
      const name = `${open.host}/saved/busybox:${format}`;
      const names = format === 'docker-archive' ? [name, `${open.host}/saved/other:second`] : [name];
      await busyboxIn(p, name);
      for (const n of names.slice(1)) await p('tag', name, n);
      const archive = join(work, `podman-${format}${format === 'oci-dir' ? '' : '.tar'}`);
      await p('save', '-q', '--format', format, ...(names.length > 1 ? ['--multi-image-archive'] : []), '-o', archive, ...names);
      const root = join(work, `tsbuild-load-${format}`);
      const load = await runCli(['--root', root, 'load', '-i', archive]);
      expect(load.code, load.stderr).toBe(0);
      // Names come from the archive (docker: RepoTags; podman's OCI formats: a full ref.name).
      for (const n of names) expect(load.stdout).toContain(`Loaded image: ${n}\n`);
      const images = await runCli(['--root', root, 'images', '--format', 'json']);
      expect(images.code, images.stderr).toBe(0);
      const list = JSON.parse(images.stdout) as { id: string }[];
      expect(list.map((i) => i.id)).toEqual(names.map(() => layoutConfig));
      for (const n of names) {
        const inspected = await runCli(['--root', root, 'inspect', n]);
        expect(inspected.code, inspected.stderr).toBe(0);
        expect(inspected.stdout).toContain(layoutConfig);
      }
    }, 60_000);
  }
});

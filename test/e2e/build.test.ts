import { execFileSync, spawnSync } from 'node:child_process';
import { cp, chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { loadImage } from '../../src/image/image.js';
import { loadOciLayout } from '../../src/store/oci-layout.js';
import { openStore, type Store } from '../../src/store/store.js';

// Real builds: runc, overlayfs, root. These run here (the CI machine has them, we are root).
const repo = resolve(__dirname, '../..');
let work: string;
let root: string;
let store: Store;

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _e: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

async function tsbuild(args: string[], env: NodeJS.ProcessEnv = {}, stderr = new Capture(), signal?: AbortSignal): Promise<{ code: number; out: string; err: string }> {
  const stdout = new Capture();
  const code = await main(['--root', root, ...args], { stdout, stderr, env: { ...process.env, ...env }, ...(signal ? { signal } : {}) });
  return { code, out: stdout.text, err: stderr.text };
}

interface Entry {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  content?: string;
  linkname?: string | null;
}

/** The image's files as its layers say, later layers over earlier ones (whiteouts applied). */
async function imageFiles(name: string): Promise<Map<string, Entry>> {
  const img = await loadImage(store, name);
  const files = new Map<string, Entry>();
  for (const l of img.layers) {
    const ex = tar.extract();
    const done = (async () => {
      for await (const e of ex) {
        const chunks: Buffer[] = [];
        for await (const c of e) chunks.push(c as Buffer);
        const p = `/${e.header.name.replace(/\/$/, '')}`;
        const base = p.slice(p.lastIndexOf('/') + 1);
        if (base.startsWith('.wh.')) {
          const target = `${p.slice(0, p.lastIndexOf('/'))}/${base.slice(4)}`;
          for (const k of [...files.keys()]) if (k === target || k.startsWith(`${target}/`)) files.delete(k);
          continue;
        }
        files.set(p, { type: e.header.type ?? 'file', mode: (e.header.mode ?? 0) & 0o7777, uid: e.header.uid ?? 0, gid: e.header.gid ?? 0, content: Buffer.concat(chunks).toString(), linkname: e.header.linkname ?? null });
      }
    })();
    const blob = store.blobs.open(l.descriptor.digest);
    (l.descriptor.mediaType.endsWith('gzip') ? blob.pipe(createGunzip()) : blob).pipe(ex);
    await done;
  }
  return files;
}

function overlayMountsUnder(dir: string): string[] {
  return execFileSync('cat', ['/proc/mounts']).toString().split('\n').filter((l) => l.includes(dir));
}

let basicCtx: string;
let multiCtx: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'tsbuild-e2e-build-'));
  root = join(work, 'store');
  store = await openStore(root);
  execFileSync(join(repo, 'testdata/make-busybox-image.sh'), [join(work, 'busybox')]);
  await loadOciLayout(store, join(work, 'busybox'), { defaultName: 'busybox:latest' });
  basicCtx = join(work, 'basic');
  await cp(join(repo, 'testdata/build/basic/ctx'), basicCtx, { recursive: true });
  await chmod(join(basicCtx, 'files/sub/b.txt'), 0o600);
  multiCtx = join(work, 'multi');
  await cp(join(repo, 'testdata/build/multi'), multiCtx, { recursive: true });
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('tsbuild build (runc + overlay)', () => {
  it('builds an image with the files, owners, modes and config docker gives', async () => {
    const r = await tsbuild(['build', '--progress', 'plain', '-t', 'basic:1', '-t', 'basic:2', '--iidfile', join(work, 'iid'), basicCtx]);
    expect(r.err).toContain('RUN echo');
    expect(r.code, r.err).toBe(0);
    const img = await loadImage(store, 'basic:1');
    expect((await loadImage(store, 'basic:2')).descriptor.digest).toBe(img.descriptor.digest);
    expect(await readFile(join(work, 'iid'), 'utf8')).toBe(img.manifest.config.digest);
    const c = img.config.config!;
    expect(c.Env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'APP_HOME=/app', 'GREETING=hi there']);
    expect(c.Labels).toEqual({ 'org.example.version': '1.0' });
    expect(c.ExposedPorts).toEqual({ '8080/tcp': {} });
    expect(c.Entrypoint).toEqual(['/usr/local/bin/run.sh']);
    expect(c.Cmd).toEqual(['--help']);
    expect(c.User).toBe('app');
    expect(c.WorkingDir).toBe('/data');
    const history = img.config.history!.slice(1).map((h) => `${h.created_by}${h.empty_layer ? ' (empty)' : ''}`);
    expect(history).toEqual([
      'ARG VERSION=1.0 (empty)',
      'ENV APP_HOME=/app GREETING=hi there (empty)',
      'LABEL org.example.version=1.0 (empty)',
      'WORKDIR /app',
      'COPY files/ ./files/ # buildkit',
      'COPY --chown=www-data:users --chmod=0750 run.sh /usr/local/bin/ # buildkit',
      'COPY *.txt* files/*.txt /app/glob/ # buildkit',
      'ADD pkg.tar.gz /opt/ # buildkit',
      'RUN |1 VERSION=1.0 /bin/sh -c echo "$GREETING $VERSION" > greeting.txt && echo "app:x:1000:1000::/home/app:/bin/sh" >> /etc/passwd && mkdir -p /data && chown 1000:1000 /data # buildkit',
      'USER app (empty)',
      'WORKDIR /data',
      'RUN |1 VERSION=1.0 /bin/sh -c id -u > /data/uid && touch /data/made-by-app # buildkit',
      'EXPOSE [8080/tcp] (empty)',
      'ENTRYPOINT ["/usr/local/bin/run.sh"] (empty)',
      'CMD ["--help"] (empty)',
    ]);
    expect(img.layers.length).toBe(1 + 8);
    expect(img.config.rootfs.diff_ids.length).toBe(img.layers.length);

    const f = await imageFiles('basic:1');
    expect(f.get('/app/files/a.txt')).toMatchObject({ content: 'hello\n', mode: 0o644, uid: 0, gid: 0 });
    expect(f.get('/app/files/sub/b.txt')).toMatchObject({ content: 'bee\n', mode: 0o600, uid: 0, gid: 0 });
    expect(f.get('/usr/local/bin/run.sh')).toMatchObject({ mode: 0o750, uid: 33, gid: 100 });
    expect(f.get('/app/glob/a.txt')?.content).toBe('hello\n');
    expect(f.has('/app/skip.tmp')).toBe(false);
    expect(f.get('/opt/pkg/inside.txt')?.content).toBe('from tar\n');
    expect(f.get('/app/greeting.txt')?.content).toBe('hi there 1.0\n');
    expect(f.get('/data/uid')).toMatchObject({ content: '1000\n', uid: 1000 });
    expect(f.get('/data')).toMatchObject({ type: 'directory', uid: 1000, gid: 1000 });
    // Mount points the runtime made must not leak into layers.
    expect(f.has('/etc/resolv.conf')).toBe(false);
    expect(f.has('/etc/hosts')).toBe(false);
    expect(overlayMountsUnder(root)).toEqual([]);
  });

  it('a warm rebuild runs no step; editing one copied file reruns that step and later ones only', async () => {
    const warm = await tsbuild(['build', '--progress', 'plain', '-t', 'basic:1', basicCtx]);
    expect(warm.code, warm.err).toBe(0);
    const before = (await loadImage(store, 'basic:1')).descriptor.digest;
    // Every step after FROM is CACHED: nothing ran, no container started.
    const steps = warm.err.split(/\n(?=#\d+ \[)/).filter((b) => /^#\d+ \[\d+\/\d+\] (?!FROM)/.test(b));
    expect(steps.length).toBe(8);
    for (const b of steps) expect(b, b).toMatch(/\n#\d+ CACHED/);
    await writeFile(join(basicCtx, 'files/a.txt'), 'edited\n');
    const edit = await tsbuild(['build', '--progress', 'plain', '-t', 'basic:1', basicCtx]);
    expect(edit.code, edit.err).toBe(0);
    const blocks = edit.err.split(/\n(?=#\d+ \[)/);
    const status = (needle: string) => blocks.filter((b) => b.includes(needle)).map((b) => b.match(/CACHED|DONE/)?.[0]).find(Boolean);
    expect(status('WORKDIR $APP_HOME')).toBe('CACHED');
    expect(status('COPY files/ ./files/')).toBe('DONE');
    expect(status('ADD pkg.tar.gz')).toBe('DONE');
    expect(status('RUN id -u')).toBe('DONE');
    const after = await loadImage(store, 'basic:1');
    expect(after.descriptor.digest).not.toBe(before);
    expect((await imageFiles('basic:1')).get('/app/files/a.txt')?.content).toBe('edited\n');
  });

  it('same inputs with SOURCE_DATE_EPOCH give the same image digest', async () => {
    const env = { SOURCE_DATE_EPOCH: '1700000000' };
    const a = await tsbuild(['build', '--no-cache', '-q', '-t', 'repro:a', multiCtx], env);
    expect(a.code, a.err).toBe(0);
    const b = await tsbuild(['build', '--no-cache', '-q', '-t', 'repro:b', multiCtx], env);
    expect(b.code, b.err).toBe(0);
    const da = (await loadImage(store, 'repro:a')).descriptor.digest;
    expect((await loadImage(store, 'repro:b')).descriptor.digest).toBe(da);
    const img = await loadImage(store, 'repro:a');
    expect(img.config.created).toBe('2023-11-14T22:13:20Z');
    const f = await imageFiles('repro:a');
    expect(f.get('/app/artifact')?.content).toBe('built\n');
    expect(f.get('/app/other.txt')?.content).toBe('other\n');
    expect(f.has('/app/extra')).toBe(false);
    expect(f.has('/src')).toBe(false);
  });

  it('a failing RUN reports step, command and exit code, leaves no mount and no tag', async () => {
    const ctx = join(work, 'fail');
    await cp(multiCtx, ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), 'FROM busybox\nRUN echo before\nRUN echo oops >&2; exit 3\nRUN echo never\n');
    const r = await tsbuild(['build', '--progress', 'plain', '-t', 'failed:1', ctx]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/tsbuild: \[3\/4\] RUN echo oops >&2; exit 3: process "\/bin\/sh -c echo oops >&2; exit 3" did not complete successfully: exit code: 3/);
    expect(r.err).toContain('oops');
    expect(r.err).not.toContain('never');
    expect(overlayMountsUnder(root)).toEqual([]);
    expect(await store.images.get('docker.io/library/failed:1')).toBeUndefined();
  });

  it('SIGINT during a RUN stops it, unmounts, tags nothing and leaves the store usable', async () => {
    const ctx = join(work, 'cancel');
    await cp(multiCtx, ctx, { recursive: true });
    // An unusual duration names this test's container process among those other test files run at once.
    await writeFile(join(ctx, 'Dockerfile'), 'FROM busybox\nRUN echo started; sleep 4242\n');
    const abort = new AbortController();
    const err = new Capture();
    const started = Date.now();
    const running = tsbuild(['build', '--progress', 'plain', '-t', 'cancelled:1', ctx], {}, err, abort.signal);
    // Wait for the container's own output (not the step header, which names the command too).
    const running_ = /^#\d+ \d+\.\d started$/m;
    while (!running_.test(err.text) && Date.now() - started < 20_000) await new Promise((r) => setTimeout(r, 50));
    expect(err.text).toMatch(running_);
    abort.abort(new Error('interrupted'));
    const r = await running;
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/cancelled/);
    expect(overlayMountsUnder(root)).toEqual([]);
    expect(spawnSync('pgrep', ['-f', 'sleep 4242']).status, 'the container process is gone').toBe(1);
    expect(await store.images.get('docker.io/library/cancelled:1')).toBeUndefined();
    // The store is consistent: the same build, now without the sleep, works.
    await writeFile(join(ctx, 'Dockerfile'), 'FROM busybox\nRUN echo started\n');
    expect((await tsbuild(['build', '-q', '-t', 'cancelled:1', ctx])).code).toBe(0);
  });

  it('exports an OCI archive skopeo and umoci accept, and a local rootfs', async () => {
    const oci = join(work, 'out.tar');
    const local = join(work, 'rootfs');
    const r = await tsbuild(['build', '-q', '-t', 'exported:1', '--output', `type=oci,dest=${oci}`, '--output', `type=local,dest=${local}`, multiCtx]);
    expect(r.code, r.err).toBe(0);
    const inspect = JSON.parse(execFileSync('skopeo', ['inspect', `oci-archive:${oci}`]).toString()) as { Layers: string[] };
    expect(inspect.Layers.length).toBe((await loadImage(store, 'exported:1')).layers.length);
    const layout = join(work, 'layout');
    await rm(layout, { recursive: true, force: true });
    execFileSync('mkdir', ['-p', layout]);
    execFileSync('tar', ['-xf', oci, '-C', layout]);
    const ref = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')).manifests[0].annotations['org.opencontainers.image.ref.name'];
    execFileSync('umoci', ['unpack', '--image', `${layout}:${ref}`, join(work, 'bundle')]);
    expect(await readFile(join(work, 'bundle/rootfs/app/artifact'), 'utf8')).toBe('built\n');
    expect(await readFile(join(local, 'app/other.txt'), 'utf8')).toBe('other\n');
  });

  it('heredocs, SHELL, ONBUILD triggers, ADD of a URL with --checksum, COPY --from an image, metadata', async () => {
    const { createServer } = await import('node:http');
    const body = 'downloaded content\n';
    const server = createServer((req, res) => {
      if (req.url === '/files/data.txt') res.end(body);
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/files/data.txt`;
    const sum = `sha256:${(await import('node:crypto')).createHash('sha256').update(body).digest('hex')}`;
    try {
      const ctx = join(repo, 'testdata/build/features');
      const ok = await tsbuild(['build', '--progress', 'json', '-t', 'features:1', '--build-arg', `URL=${url}`, '--build-arg', `SUM=${sum}`, '--label', 'extra=yes', ctx]);
      expect(ok.code, ok.err).toBe(0);
      // json progress: one event per line
      const events = ok.err.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { type: string });
      expect(events.some((e) => e.type === 'done')).toBe(true);
      const img = await loadImage(store, 'features:1');
      const c = img.config.config!;
      expect(c.Shell).toEqual(['/bin/sh', '-e', '-c']);
      expect(c.Cmd).toEqual(['/bin/sh', '-e', '-c', 'echo shell form']);
      expect(c.StopSignal).toBe('SIGTERM');
      expect(c.Volumes).toEqual({ '/data': {} });
      expect(c.Healthcheck).toEqual({ Test: ['CMD-SHELL', 'wget -q localhost || exit 1'], Interval: 30e9, Retries: 2 });
      expect(c.Labels).toEqual({ extra: 'yes' });
      expect(c.OnBuild ?? []).toEqual([]);
      const f = await imageFiles('features:1');
      expect(f.get('/heredoc-run.txt')?.content).toBe('heredoc-run\n');
      expect(f.get('/etc/app.conf')).toMatchObject({ content: 'name=app\n', mode: 0o644 });
      expect(f.get('/onbuild.txt')?.content).toBe('triggered\n');
      expect(f.get('/downloads/data.txt')).toMatchObject({ content: body, mode: 0o600 });
      expect(f.get('/copied-group')?.content).toContain('www-data:x:33:');
      const hist = img.config.history!.map((h) => h.created_by);
      expect(hist).toContain('COPY <<EOF /etc/app.conf # buildkit');
      expect(hist).toContain(`ADD ${url} /downloads/ # buildkit`);

      // The base stage alone (--target) keeps its ONBUILD trigger recorded, not run.
      const base = await tsbuild(['build', '-q', '--target', 'base', '-t', 'features:base', ctx]);
      expect(base.code, base.err).toBe(0);
      const bimg = await loadImage(store, 'features:base');
      expect(bimg.config.config!.OnBuild).toEqual(['RUN echo triggered > /onbuild.txt']);
      expect((await imageFiles('features:base')).has('/onbuild.txt')).toBe(false);

      // A wrong checksum fails before anything is copied.
      const bad = await tsbuild(['build', '-q', '--no-cache', '--build-arg', `URL=${url}`, '--build-arg', `SUM=sha256:${'0'.repeat(64)}`, ctx]);
      expect(bad.code).toBe(1);
      expect(bad.err).toMatch(/digest mismatch/);
    } finally {
      server.close();
    }
  });

  it('--no-cache-filter reruns only the named stage; independent stages both run', async () => {
    const first = await tsbuild(['build', '--progress', 'plain', '-t', 'multi:1', multiCtx]);
    expect(first.code, first.err).toBe(0);
    const r = await tsbuild(['build', '--progress', 'plain', '--no-cache-filter', 'other', '-t', 'multi:1', multiCtx]);
    expect(r.code, r.err).toBe(0);
    const blocks = r.err.split(/\n(?=#\d+ \[)/);
    const status = (needle: string) => blocks.filter((b) => b.includes(needle)).map((b) => b.match(/CACHED|DONE/)?.[0]).find(Boolean);
    expect(status('RUN echo other')).toBe('DONE');
    expect(status('RUN mkdir -p /out')).toBe('CACHED');
  });

  it('--push sends the image (gzip layers) to a registry; FROM an image not in the store pulls it', async () => {
    // Debian's docker-registry (distribution), a real registry on a free loopback port.
    const { createServer } = await import('node:net');
    const port = await new Promise<number>((r) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => r(p));
      });
    });
    const regDir = join(work, 'registry');
    execFileSync('mkdir', ['-p', regDir]);
    await writeFile(join(regDir, 'config.yml'), `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${regDir}/data\nhttp:\n  addr: 127.0.0.1:${port}\n`);
    const { spawn } = await import('node:child_process');
    const proc = spawn('/usr/bin/docker-registry', ['serve', join(regDir, 'config.yml')], { stdio: 'ignore' });
    const reg = { host: `127.0.0.1:${port}`, close: async () => void proc.kill() };
    for (let i = 0; i < 100; i++) {
      if (await fetch(`http://${reg.host}/v2/`).then(() => true, () => false)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    try {
      const name = `${reg.host}/test/multi:1`;
      const r = await tsbuild(['build', '--progress', 'plain', '-t', name, '--push', multiCtx]);
      expect(r.code, r.err).toBe(0);
      expect(r.err).toMatch(/1: digest: sha256:[a-f0-9]{64} size: \d+/);
      const inspect = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${name}`]).toString()) as { layers: { mediaType: string }[] };
      expect(inspect.layers.every((l) => l.mediaType === 'application/vnd.oci.image.layer.v1.tar+gzip')).toBe(true);
      // A fresh store: FROM the pushed image pulls it from the registry.
      const ctx = join(work, 'from-registry');
      await cp(multiCtx, ctx, { recursive: true });
      await writeFile(join(ctx, 'Dockerfile'), `FROM ${name}\nRUN cat /app/artifact > /copy\n`);
      const other = join(work, 'store2');
      const stdout = new Capture();
      const stderr = new Capture();
      const code = await main(['--root', other, 'build', '--progress', 'plain', '-t', 'pulled:1', ctx], { stdout, stderr });
      expect(code, stderr.text).toBe(0);
      const s2 = await openStore(other);
      const img = await loadImage(s2, 'pulled:1');
      expect(img.layers.length).toBe(inspect.layers.length + 1);
    } finally {
      await reg.close();
    }
  });

  it('refuses a foreign platform and an unknown base clearly', async () => {
    const r = await tsbuild(['build', '--platform', 'linux/s390x', multiCtx]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/platform linux\/s390x is not supported/);
  });
});

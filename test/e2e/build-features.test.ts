import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadImage } from '../../src/image/image.js';
import { loadOciLayout } from '../../src/store/oci-layout.js';
import { openStore, type Store } from '../../src/store/store.js';
import { runCli } from '../helpers/cli.js';
import { serveGitRepos } from '../helpers/git-http.js';

// The build features of issue 8 through the real CLI: runc over overlayfs (we are root here), a
// git http-backend on loopback. Nothing is mocked.
const repo = resolve(import.meta.dirname, '../..');
let work: string;
let root: string;
let store: Store;
let n = 0;

async function tsbuild(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = await runCli(['--root', root, ...args], { env: { ...process.env, HOME: '/nonexistent', SOURCE_DATE_EPOCH: '1700000000', ...env } });
  return r;
}

/** A fresh context directory holding `files` (path -> content). */
async function context(files: Record<string, string>): Promise<string> {
  const dir = join(work, `ctx-${n++}`);
  for (const [p, content] of Object.entries(files)) {
    await mkdir(join(dir, p, '..'), { recursive: true });
    await writeFile(join(dir, p), content);
  }
  return dir;
}

/** The image's files as its layers say, later layers over earlier ones (no whiteouts used here). */
async function imageFiles(name: string): Promise<Map<string, string>> {
  const img = await loadImage(store, name);
  const files = new Map<string, string>();
  for (const l of img.layers) {
    for (const [p, c] of await layerEntries(l.descriptor.digest, l.descriptor.mediaType)) files.set(p, c);
  }
  return files;
}

/** Every entry of one layer, with the content of regular files. */
async function layerEntries(digest: string, mediaType: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const ex = tar.extract();
  const done = (async () => {
    for await (const e of ex) {
      const chunks: Buffer[] = [];
      for await (const c of e) chunks.push(c as Buffer);
      out.set(`/${e.header.name.replace(/\/$/, '')}`, Buffer.concat(chunks).toString());
    }
  })();
  const blob = store.blobs.open(digest as never);
  (mediaType.endsWith('gzip') ? blob.pipe(createGunzip()) : blob).pipe(ex);
  await done;
  return out;
}

/** Every regular file under `dir` that contains `needle` (raw bytes). */
async function filesContaining(dir: string, needle: string): Promise<string[]> {
  const hits: string[] = [];
  const pending = [dir];
  while (pending.length > 0) {
    const d = pending.pop()!;
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) pending.push(p);
      else if (e.isFile() && (await readFile(p)).includes(needle)) hits.push(p);
    }
  }
  return hits;
}

function git(args: string[], cwd: string): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@e', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@e' } }).trim();
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'tsbuild-e2e-features-'));
  root = join(work, 'store');
  store = await openStore(root);
  execFileSync('bash', [join(repo, 'testdata/make-busybox-image.sh'), join(work, 'busybox')]);
  await loadOciLayout(store, join(work, 'busybox'), { defaultName: 'busybox:latest' });
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('RUN --mount', () => {
  it('type=cache: the second build finds what the first left; the cache is in no layer; prune --cache-mounts empties it', async () => {
    const ctx = await context({
      Dockerfile: [
        'FROM busybox',
        'ARG RUNID',
        'RUN --mount=type=cache,target=/var/cache/pkg,id=pkgs if [ -f /var/cache/pkg/stamp ]; then echo "found $(cat /var/cache/pkg/stamp)" > /result; else echo empty > /result; fi; echo "$RUNID" > /var/cache/pkg/stamp; echo payload > /var/cache/pkg/big',
        '',
      ].join('\n'),
    });
    const first = await tsbuild(['build', '--progress', 'plain', '-t', 'cache:1', '--build-arg', 'RUNID=one', ctx]);
    expect(first.code, first.stderr).toBe(0);
    expect((await imageFiles('cache:1')).get('/result')).toBe('empty\n');

    const second = await tsbuild(['build', '--progress', 'plain', '-t', 'cache:2', '--build-arg', 'RUNID=two', ctx]);
    expect(second.code, second.stderr).toBe(0);
    const files = await imageFiles('cache:2');
    expect(files.get('/result')).toBe('found one\n');
    // Nothing of the cache (nor the mount point the runtime made for it) is in any layer.
    const img = await loadImage(store, 'cache:2');
    for (const l of img.layers.slice(1)) {
      const entries = await layerEntries(l.descriptor.digest, l.descriptor.mediaType);
      expect([...entries.keys()].filter((p) => p.startsWith('/var/cache')), l.descriptor.digest).toEqual([]);
      expect([...entries.values()].some((c) => c.includes('payload'))).toBe(false);
    }

    const prune = await tsbuild(['prune', '--cache-mounts']);
    expect(prune.code, prune.stderr).toBe(0);
    expect(prune.stdout).toMatch(/^Deleted 1 cache mount; reclaimed \d+/);
    const third = await tsbuild(['build', '-q', '-t', 'cache:3', '--build-arg', 'RUNID=three', ctx]);
    expect(third.code, third.stderr).toBe(0);
    expect((await imageFiles('cache:3')).get('/result')).toBe('empty\n');
  });

  it('type=secret: readable in RUN (file and env), found nowhere in the store; a required missing secret fails clearly', async () => {
    const secret = 'tsbuild-s3cr3t-value-Zq81';
    const secretFile = join(work, 'token.txt');
    await writeFile(secretFile, secret);
    const ctx = await context({
      Dockerfile: [
        'FROM busybox',
        'RUN --mount=type=secret,id=token test "$(cat /run/secrets/token)" = "' + secret.slice(0, 7) + '$(echo -n "' + secret.slice(7) + '")" && wc -c < /run/secrets/token > /len',
        'RUN --mount=type=secret,id=api,env=API_TOKEN,required=true echo "${#API_TOKEN}" > /envlen',
        'RUN --mount=type=secret,id=token,target=/etc/tok,mode=0444 ls -l /etc/tok | cut -c1-10 > /mode',
        '',
      ].join('\n'),
    });
    const env = { API_SECRET_VAR: secret };
    const r = await tsbuild(['build', '--progress', 'plain', '-t', 'secret:1', '--secret', `id=token,src=${secretFile}`, '--secret', 'id=api,env=API_SECRET_VAR', ctx], env);
    expect(r.code, r.stderr).toBe(0);
    const files = await imageFiles('secret:1');
    expect(files.get('/len')?.trim()).toBe(String(secret.length));
    expect(files.get('/envlen')?.trim()).toBe(String(secret.length));
    expect(files.get('/mode')?.trim()).toBe('-r--r--r--');
    expect([...files.keys()].filter((p) => p.startsWith('/run/secrets') || p === '/etc/tok')).toEqual([]);
    // Not in any layer, config, history, manifest, build cache record or temp file: scan the whole store.
    expect(await filesContaining(root, secret)).toEqual([]);
    expect(r.stderr).not.toContain(secret);

    const bad = await tsbuild(['build', '--secret', 'src=/nowhere', ctx]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('secret ID missing');

    const missing = await context({ Dockerfile: 'FROM busybox\nRUN --mount=type=secret,id=nope,required=true true\n' });
    const m = await tsbuild(['build', '--progress', 'plain', missing]);
    expect(m.code).toBe(1);
    expect(m.stderr).toContain('secret nope not found: pass it with --secret id=nope');
    expect(m.stderr).not.toMatch(/\n\s+at /);
  });

  it('type=bind from the context and from a stage, type=tmpfs: readable in RUN, in no layer; the context content is in the key', async () => {
    const ctx = await context({
      'data/a.txt': 'alpha\n',
      Dockerfile: [
        'FROM busybox AS gen',
        'RUN echo generated > /gen.txt',
        'FROM busybox',
        'RUN --mount=type=bind,source=data,target=/src cat /src/a.txt > /from-ctx.txt',
        'RUN --mount=type=bind,from=gen,source=/gen.txt,target=/g.txt cat /g.txt > /from-stage.txt',
        'RUN --mount=type=tmpfs,target=/scratch echo x > /scratch/y && test -f /scratch/y && echo tmpfs-ok > /tmpfs.txt',
        'RUN --mount=type=bind,source=data,target=/rw,rw echo scribble > /rw/a.txt && cat /rw/a.txt > /rw.txt',
        '',
      ].join('\n'),
    });
    const r = await tsbuild(['build', '--progress', 'plain', '-t', 'bind:1', ctx]);
    expect(r.code, r.stderr).toBe(0);
    const files = await imageFiles('bind:1');
    expect(files.get('/from-ctx.txt')).toBe('alpha\n');
    expect(files.get('/from-stage.txt')).toBe('generated\n');
    expect(files.get('/tmpfs.txt')).toBe('tmpfs-ok\n');
    expect(files.get('/rw.txt')).toBe('scribble\n');
    expect([...files.keys()].filter((p) => /^\/(src|g\.txt|scratch|rw)(\/|$)/.test(p))).toEqual([]);
    // A rw bind writes to a throwaway copy, never to the context.
    expect(await readFile(join(ctx, 'data/a.txt'), 'utf8')).toBe('alpha\n');

    // Same inputs: every step cached. A changed file under the bound directory reruns that RUN.
    const again = await tsbuild(['build', '--progress', 'plain', '-t', 'bind:2', ctx]);
    expect(again.code, again.stderr).toBe(0);
    expect((await loadImage(store, 'bind:2')).descriptor.digest).toBe((await loadImage(store, 'bind:1')).descriptor.digest);
    await writeFile(join(ctx, 'data/a.txt'), 'beta\n');
    const changed = await tsbuild(['build', '--progress', 'plain', '-t', 'bind:3', ctx]);
    expect(changed.code, changed.stderr).toBe(0);
    expect((await imageFiles('bind:3')).get('/from-ctx.txt')).toBe('beta\n');
  });

  it('type=ssh: the agent socket given with --ssh is forwarded and SSH_AUTH_SOCK set', async () => {
    const sock = join(work, 'agent.sock');
    const agent = createNetServer((c) => c.end('agent-hello\n'));
    await new Promise<void>((r) => agent.listen(sock, () => r()));
    try {
      const ctx = await context({
        Dockerfile: 'FROM busybox\nRUN --mount=type=ssh,required=true test -S "$SSH_AUTH_SOCK" && echo "$SSH_AUTH_SOCK" > /sock.txt\n',
      });
      const r = await tsbuild(['build', '--progress', 'plain', '-t', 'ssh:1', '--ssh', `default=${sock}`, ctx]);
      expect(r.code, r.stderr).toBe(0);
      const files = await imageFiles('ssh:1');
      expect(files.get('/sock.txt')).toBe('/run/buildkit/ssh_agent.0\n');
      expect([...files.keys()].filter((p) => p.startsWith('/run/buildkit'))).toEqual([]);
      const missing = await tsbuild(['build', '--progress', 'plain', '--no-cache', ctx]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain('no SSH agent "default" forwarded');
    } finally {
      await new Promise<void>((r) => agent.close(() => r()));
    }
  });
});

describe('ADD of a git repository', () => {
  let server: Server | undefined;
  afterAll(async () => {
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  });

  it('over smart HTTP (git http-backend on loopback) and file://, with --keep-git-dir; a new commit reruns only its ADD', async () => {
    const src = join(work, 'gitwork');
    await mkdir(join(src, 'sub'), { recursive: true });
    git(['init', '-q', '-b', 'main', src], work);
    await writeFile(join(src, 'hello.txt'), 'hello v1\n');
    await writeFile(join(src, 'sub', 'inner.txt'), 'inner\n');
    git(['add', '.'], src);
    git(['commit', '-q', '-m', 'one'], src);
    git(['tag', 'v1'], src);
    const repos = join(work, 'repos');
    git(['clone', '-q', '--bare', src, join(repos, 'app.git')], work);
    server = await serveGitRepos(repos);
    const http = `http://127.0.0.1:${(server.address() as AddressInfo).port}/app.git`;
    const file = `file://${join(repos, 'app.git')}`;

    const ctx = await context({
      Dockerfile: ['FROM busybox', `ADD ${http}#v1 /http/`, `ADD ${http}#main:sub /only-sub/`, `ADD --keep-git-dir=true ${file} /kept/`, ''].join('\n'),
    });
    const r = await tsbuild(['build', '--progress', 'plain', '-t', 'git:1', ctx]);
    expect(r.code, r.stderr).toBe(0);
    const files = await imageFiles('git:1');
    expect(files.get('/http/hello.txt')).toBe('hello v1\n');
    expect(files.get('/http/sub/inner.txt')).toBe('inner\n');
    expect([...files.keys()].some((p) => p.startsWith('/http/.git'))).toBe(false);
    expect(files.get('/only-sub/inner.txt')).toBe('inner\n');
    expect(files.has('/only-sub/hello.txt')).toBe(false);
    expect(files.get('/kept/hello.txt')).toBe('hello v1\n');
    expect(files.has('/kept/.git/HEAD')).toBe(true);

    // A new commit on main: the tag's ADD stays cached, the other two rerun and see the change.
    await writeFile(join(src, 'hello.txt'), 'hello v2\n');
    await writeFile(join(src, 'sub', 'inner.txt'), 'inner v2\n');
    git(['commit', '-q', '-am', 'two'], src);
    git(['push', '-q', join(repos, 'app.git'), 'main'], src);
    const again = await tsbuild(['build', '--progress', 'plain', '-t', 'git:2', ctx]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/\[2\/4\] ADD http:[^\n]*#v1[^\n]*\n#\d+ CACHED/);
    const files2 = await imageFiles('git:2');
    expect(files2.get('/http/hello.txt')).toBe('hello v1\n');
    expect(files2.get('/only-sub/inner.txt')).toBe('inner v2\n');
    expect(files2.get('/kept/hello.txt')).toBe('hello v2\n');
  });
});

describe('tsbuild build --check', () => {
  const linty = ['FROM busybox as Build', 'ENV MODE prod', 'CMD echo hi', ''].join('\n');

  it('prints the findings with file:line and exits 1, building nothing; a clean Dockerfile exits 0', async () => {
    const ctx = await context({ Dockerfile: linty });
    const before = (await store.images.list()).length;
    const r = await tsbuild(['build', '--check', '-t', 'never:built', ctx]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('Dockerfile:1:');
    expect(r.stdout).toMatch(/StageNameCasing: Stage name 'Build' should be lowercase/);
    expect(r.stdout).toMatch(/Dockerfile:2:\d+: LegacyKeyValueFormat/);
    expect(r.stdout).toMatch(/Dockerfile:3:\d+: JSONArgsRecommended/);
    expect(r.stdout).toMatch(/Check complete, \d+ warnings have been found!/);
    expect((await store.images.list()).length).toBe(before);

    const clean = await context({ Dockerfile: 'FROM busybox\nCMD ["echo", "hi"]\n' });
    const ok = await tsbuild(['build', '--check', clean]);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toBe('Check complete, no warnings found.\n');
  });

  it('duplicate stage names: --check reports them (exit 1); a build warns once, not twice', async () => {
    const ctx = await context({ Dockerfile: 'FROM busybox AS a\nFROM busybox AS a\nRUN true\n' });
    const r = await tsbuild(['build', '--check', ctx]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/Dockerfile:2:\d+: DuplicateStageName/);
    expect(r.stderr).toBe('');
    // On a build the planner's and the lint's report of the same thing is printed once.
    const b = await tsbuild(['build', '--progress', 'plain', ctx]);
    expect(b.stderr.split('\n').filter((l) => /Duplicate stage name/.test(l))).toEqual(['WARNING: DuplicateStageName: Duplicate stage name "a", stage names should be unique (Dockerfile:2)']);
  });

  it('UndefinedVar uses the base image ENV from the store', async () => {
    const ctx = await context({ Dockerfile: 'FROM busybox\nENV A=$PATH B=$NOPE_NOT_SET\n' });
    const r = await tsbuild(['build', '--check', ctx]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/UndefinedVar: Usage of undefined variable '\$NOPE_NOT_SET'/);
    expect(r.stdout).not.toContain("'$PATH'");
  });

  it('a build prints the findings as warnings at the end; # check=error=true fails it', async () => {
    const ctx = await context({ Dockerfile: linty });
    const r = await tsbuild(['build', '--progress', 'plain', '-t', 'linty:1', ctx]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/WARNING: JSONArgsRecommended: [^\n]* \(Dockerfile:3\)\n$/);
    expect(r.stderr.indexOf('WARNING: StageNameCasing')).toBeGreaterThan(r.stderr.indexOf('exporting to image'));

    const strict = await context({ Dockerfile: `# check=error=true\n${linty}` });
    const f = await tsbuild(['build', '--progress', 'plain', '-t', 'linty:2', strict]);
    expect(f.code).toBe(1);
    expect(f.stderr).toMatch(/tsbuild: lint violation found for rules: [A-Za-z, ]*StageNameCasing/);
    await expect(loadImage(store, 'linty:2')).rejects.toThrow();
  });
});

describe('progress names', () => {
  it('shows the expanded FROM image and [stage N/M] prefixes as BuildKit does', async () => {
    const ctx = await context({
      Dockerfile: ['ARG BASE=busybox', 'FROM ${BASE} AS builder', 'RUN echo a > /a', 'FROM $BASE', 'COPY --from=builder /a /a', ''].join('\n'),
    });
    const r = await tsbuild(['build', '--progress', 'plain', '--no-cache', ctx]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('[builder 1/2] FROM docker.io/library/busybox:latest');
    expect(r.stderr).toContain('[builder 2/2] RUN echo a > /a');
    expect(r.stderr).toContain('[stage-1 1/2] FROM docker.io/library/busybox:latest');
    expect(r.stderr).toContain('[stage-1 2/2] COPY --from=builder /a /a');
    expect(r.stderr).not.toContain('${BASE}');

    const single = await context({ Dockerfile: 'FROM busybox\nRUN true\n' });
    const s = await tsbuild(['build', '--progress', 'plain', single]);
    expect(s.stderr).toContain('[1/2] FROM docker.io/library/busybox:latest');
  });
});

import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireCacheMount, cacheMountsRoot } from '../../src/build/mounts/cache-mounts.js';
import { lockFile } from '../../src/build/mounts/flock.js';
import {
  cacheKeyOf,
  MountError,
  parseSecretFlag,
  parseSshFlag,
  prepareRunMounts,
  pruneCacheMounts,
  type RunMountContext,
  type SecretSource,
} from '../../src/build/mounts/prepare.js';
import { runContainer } from '../../src/build/runtime/runner.js';
import { ensureUnpacked, snapshotWorkRoot } from '../../src/build/snapshot/layer-cache.js';
import { OverlaySnapshotter } from '../../src/build/snapshot/overlay.js';
import type { ActiveSnapshot } from '../../src/build/snapshot/snapshotter.js';
import type { RunMount } from '../../src/plan/build-graph.js';
import { parseRunMount } from '../../src/plan/run-mount.js';
import { createIgnoreMatcher, parseDockerignore } from '../../src/dockerfile/dockerignore.js';
import { makeBusyboxImage, mountsUnder } from './runtime-fixtures.js';

let root: string;
let storeRoot: string;
let contextDir: string;
let base: string;
let snapshotter: OverlaySnapshotter;
let secretFile: string;
const active: ActiveSnapshot[] = [];
const SECRET = 'hunter2-the-secret-value';

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'tsbuild-mounts-'));
  storeRoot = join(root, 'store');
  contextDir = join(root, 'context');
  await mkdir(join(contextDir, 'sub'), { recursive: true });
  await writeFile(join(contextDir, 'hello.txt'), 'hello from context\n');
  await writeFile(join(contextDir, 'sub', 'x'), 'x\n');
  secretFile = join(root, 'secret.txt');
  await writeFile(secretFile, SECRET);
  const image = await makeBusyboxImage();
  base = await ensureUnpacked(image.source(storeRoot), image.layer);
  await image.cleanup();
  snapshotter = new OverlaySnapshotter({ workRoot: snapshotWorkRoot(storeRoot) });
});

afterAll(async () => {
  for (const s of active) await s.discard().catch(() => undefined);
  if (root) {
    expect(mountsUnder(root)).toEqual([]);
    await rm(root, { recursive: true, force: true });
  }
});

/** `--mount` specs as the planner parses them. */
function mounts(...specs: string[]): RunMount[] {
  return specs.map((s) => parseRunMount(s, (w) => w, (raw) => ({ type: 'stage', index: Number(raw) })));
}

function ctx(over: Partial<RunMountContext> = {}): RunMountContext {
  return {
    storeRoot,
    contextDir,
    stageRootfs: () => Promise.reject(new Error('no stages here')),
    imageRootfs: () => Promise.reject(new Error('no images here')),
    secrets: new Map<string, SecretSource>([['mysecret', { type: 'file', path: secretFile }]]),
    sshAgents: new Map(),
    ...over,
  };
}

function sink() {
  const s = new PassThrough();
  let text = '';
  s.setEncoding('utf8').on('data', (d: string) => (text += d));
  return { s, text: () => text };
}

/** Every path in a tree, relative, sorted. */
async function listTree(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    out.push(rel);
    if (e.isDirectory()) out.push(...(await listTree(dir, rel)));
  }
  return out.sort();
}

/**
 * One RUN: an overlay over busybox, the mounts prepared, runc, the mounts released, the snapshot
 * released. Returns the output and the upper dir's content (what the layer would hold).
 */
async function run(script: string, specs: RunMount[], c: RunMountContext = ctx(), user?: string) {
  const snap = await snapshotter.prepare([base], { label: 'mounts' });
  active.push(snap);
  const out = sink();
  const err = sink();
  const prepared = await prepareRunMounts(specs, c);
  let exitCode: number;
  try {
    const res = await runContainer({
      rootfs: snap.rootfs,
      args: ['/bin/sh', '-c', script],
      env: Object.entries(prepared.env).map(([k, v]) => `${k}=${v}`),
      mounts: prepared.ociMounts,
      stdout: out.s,
      stderr: err.s,
      ...(user ? { user } : {}),
    });
    exitCode = res.exitCode;
  } finally {
    await prepared.release();
    await snap.release();
  }
  return { exitCode, stdout: out.text(), stderr: err.text(), upper: await listTree(snap.upperdir), upperdir: snap.upperdir };
}

describe('RUN --mount=type=cache', () => {
  it('persists between runs and is in no layer', async () => {
    const m = mounts('type=cache,target=/root/.cache/pkg');
    const first = await run('echo cached > /root/.cache/pkg/a; ls /root/.cache/pkg', m);
    expect(first.exitCode).toBe(0);
    expect(first.stdout).toBe('a\n');
    expect(first.upper).toEqual([]);
    const second = await run('cat /root/.cache/pkg/a; echo more >> /root/.cache/pkg/a', m);
    expect(second.stdout).toBe('cached\n');
    expect(second.upper).toEqual([]);
    // Same id (the target) from a different WORKDIR-relative spelling: the same cache.
    const third = await run('cat /root/.cache/pkg/a', mounts('type=cache,target=pkg'), ctx({ workdir: '/root/.cache' }));
    expect(third.stdout).toBe('cached\nmore\n');
  });

  it('applies id, mode, uid and gid on creation and honours ro', async () => {
    const m = mounts('type=cache,target=/c,id=owned,mode=0750,uid=33,gid=34');
    const r = await run('stat -c "%a %u %g" /c; touch /c/f && echo wrote', m);
    expect(r.stdout).toBe('750 33 34\nwrote\n');
    const ro = await run('ls /other; touch /other/g 2>/dev/null || echo refused', mounts('type=cache,target=/other,id=owned,ro'));
    expect(ro.stdout).toBe('f\nrefused\n');
  });

  it('seeds a new cache from another stage', async () => {
    const stage = await snapshotter.prepare([base], { label: 'seed' });
    active.push(stage);
    await mkdir(join(stage.rootfs, 'seed'), { recursive: true });
    await writeFile(join(stage.rootfs, 'seed', 'init'), 'seeded\n');
    try {
      const r = await run('cat /c/init', mounts('type=cache,target=/c,from=0,source=/seed'), ctx({ stageRootfs: async () => stage.rootfs, fromIdentity: () => 'key-1' }));
      expect(r.stdout).toBe('seeded\n');
    } finally {
      await stage.discard();
    }
  });

  it('locked sharing lets one user in at a time; shared lets both in', async () => {
    const m = mounts('type=cache,target=/c,id=serial,sharing=locked');
    const a = await prepareRunMounts(m, ctx());
    let bReady = false;
    const b = prepareRunMounts(m, ctx()).then((p) => {
      bReady = true;
      return p;
    });
    // A runs a whole container while B waits on the lock.
    const snap = await snapshotter.prepare([base], { label: 'locked' });
    active.push(snap);
    const out = sink();
    await runContainer({ rootfs: snap.rootfs, args: ['/bin/sh', '-c', 'echo a >> /c/log'], mounts: a.ociMounts, stdout: out.s, stderr: out.s });
    await snap.release();
    expect(bReady).toBe(false);
    await a.release();
    const pb = await b;
    expect(bReady).toBe(true);
    expect(await readFile(join(pb.ociMounts[0]!.source!, 'log'), 'utf8')).toBe('a\n');
    await pb.release();

    const s = mounts('type=cache,target=/c,id=shared-one');
    const [s1, s2] = await Promise.all([prepareRunMounts(s, ctx()), prepareRunMounts(s, ctx())]);
    expect(s1.ociMounts[0]!.source).toBe(s2.ociMounts[0]!.source);
    await Promise.all([s1.release(), s2.release()]);
  });

  it('private sharing gives concurrent users their own directory', async () => {
    const m = mounts('type=cache,target=/c,id=priv,sharing=private');
    const p1 = await prepareRunMounts(m, ctx());
    const p2 = await prepareRunMounts(m, ctx());
    expect(p1.ociMounts[0]!.source).not.toBe(p2.ociMounts[0]!.source);
    await p1.release();
    const p3 = await prepareRunMounts(m, ctx());
    expect(p3.ociMounts[0]!.source).toBe(p1.ociMounts[0]!.source);
    await Promise.all([p2.release(), p3.release()]);
  });

  it('prune removes caches not in use and reports their size', async () => {
    const store2 = join(root, 'prune-store');
    const busy = await acquireCacheMount(store2, { id: 'busy', sharing: 'shared' });
    const idle = await acquireCacheMount(store2, { id: 'idle', sharing: 'shared' });
    await writeFile(join(idle.dir, 'blob'), Buffer.alloc(1000));
    await idle.release();
    const r = await pruneCacheMounts(store2);
    expect(r).toEqual({ removed: 1, bytes: 1000, inUse: 1 });
    await expect(stat(idle.dir)).rejects.toThrow();
    expect((await stat(busy.dir)).isDirectory()).toBe(true);
    await busy.release();
    expect((await pruneCacheMounts(store2)).removed).toBe(1);
    expect((await readdir(cacheMountsRoot(store2))).filter((n) => n !== 'locks')).toEqual([]);
  });
});

describe('file locks', () => {
  it('exclusive excludes, shared shares, release frees', async () => {
    const p = join(root, 'locks', 'l');
    const x = await lockFile(p, 'exclusive');
    expect(await lockFile(p, 'shared', { wait: false })).toBeUndefined();
    await x!.release();
    const s1 = await lockFile(p, 'shared', { wait: false });
    const s2 = await lockFile(p, 'shared', { wait: false });
    expect(s1 && s2).toBeTruthy();
    expect(await lockFile(p, 'exclusive', { wait: false })).toBeUndefined();
    const ac = new AbortController();
    const waiting = lockFile(p, 'exclusive', { signal: ac.signal });
    ac.abort(new Error('gave up'));
    await expect(waiting).rejects.toThrow('gave up');
    await s1!.release();
    await s2!.release();
  });
});

describe('RUN --mount=type=secret', () => {
  it('is readable in RUN and absent from the layer and the cache key', async () => {
    const m = mounts('type=secret,id=mysecret', 'type=secret,id=mysecret,target=/etc/app/token,mode=0440,uid=33,gid=33');
    const r = await run('cat /run/secrets/mysecret; echo; stat -c "%a %u" /run/secrets/mysecret /etc/app/token; cat /etc/app/token > /copied-by-mistake-not', m);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(`${SECRET}\n400 0\n440 33\n`);
    // The step wrote one file on purpose; no secret stub (/run, /run/secrets, /etc/app) stayed behind.
    expect(r.upper).toEqual(['copied-by-mistake-not']);
    const key = await cacheKeyOf(m, { stageKey: () => 'x', imageDigest: () => 'x', contextChecksum: () => 'x' });
    const other = await cacheKeyOf(mounts('type=secret,id=mysecret', 'type=secret,id=mysecret,target=/etc/app/token,mode=0440,uid=33,gid=33'), {
      stageKey: () => 'x',
      imageDigest: () => 'x',
      contextChecksum: () => 'x',
    });
    expect(key).toBe(other);
    expect(key).not.toContain(SECRET);
    // The secret's copy is gone with the step.
    expect(await readdir('/dev/shm').then((n) => n.filter((x) => x.startsWith('tsbuild-secrets-')))).toEqual([]);
  });

  it('as an environment variable, from an env source', async () => {
    const c = ctx({ secrets: new Map([['tok', { type: 'env', name: 'MY_TOKEN' }]]), hostEnv: { MY_TOKEN: 's3cr3t' } });
    const r = await run('echo "[$TOKEN]"; ls /run/secrets 2>&1 | head -1', mounts('type=secret,id=tok,env=TOKEN'), c);
    expect(r.stdout).toMatch(/^\[s3cr3t\]\n.*No such file/);
    expect(r.upper).toEqual([]);
  });

  it('missing: skipped unless required', async () => {
    const r = await run('test -e /run/secrets/nope && echo there || echo absent', mounts('type=secret,id=nope'));
    expect(r.stdout).toBe('absent\n');
    await expect(prepareRunMounts(mounts('type=secret,id=nope,required'), ctx())).rejects.toThrow(MountError);
    await expect(prepareRunMounts(mounts('type=secret,id=nope,required'), ctx())).rejects.toThrow(/secret nope not found/);
  });

  it('a non-root user reads it only when given ownership', async () => {
    const denied = await run('cat /run/secrets/mysecret >/dev/null 2>&1 && echo read || echo denied', mounts('type=secret,id=mysecret'), ctx(), 'www-data');
    expect(denied.stdout).toBe('denied\n');
    const allowed = await run('cat /run/secrets/mysecret', mounts('type=secret,id=mysecret,uid=33'), ctx(), 'www-data');
    expect(allowed.stdout).toBe(SECRET);
  });
});

describe('RUN --mount=type=bind', () => {
  it('from the context is read-only by default', async () => {
    const r = await run('cat /src/hello.txt; touch /src/new 2>/dev/null && echo wrote || echo refused', mounts('type=bind,target=/src'));
    expect(r.stdout).toBe('hello from context\nrefused\n');
    expect(r.upper).toEqual([]);
  });

  it('rw writes are discarded', async () => {
    const r = await run('echo changed > /src/hello.txt; touch /src/new; rm /src/sub/x; cat /src/hello.txt', mounts('type=bind,target=/src,rw'));
    expect(r.stdout).toBe('changed\n');
    expect(await readFile(join(contextDir, 'hello.txt'), 'utf8')).toBe('hello from context\n');
    expect(await listTree(contextDir)).toEqual(['hello.txt', 'sub', 'sub/x']);
    expect(r.upper).toEqual([]);
    expect(await readdir(join(storeRoot, 'tmp')).then((n) => n.filter((x) => x.startsWith('rw-mount-')))).toEqual([]);
    // A directory is made writable with an overlay (not a copy), unmounted on release.
    const p = await prepareRunMounts(mounts('type=bind,target=/src,rw'), ctx());
    const src = p.ociMounts[0]!.source!;
    expect(mountsUnder(src).map((l) => l.split(' ')[2])).toEqual(['overlay']);
    await p.release();
    expect(mountsUnder(src)).toEqual([]);
  });

  it('shows the context as .dockerignore leaves it, read-only or rw, and an ignored source as missing', async () => {
    const dir = join(root, 'ignoring');
    await mkdir(join(dir, 'app', 'skip'), { recursive: true });
    await writeFile(join(dir, 'app', 'main.sh'), 'echo main\n');
    await writeFile(join(dir, 'app', 'skip', 'big'), 'big\n');
    await writeFile(join(dir, 'app', 'creds.env'), 'TOKEN=1\n');
    await writeFile(join(dir, '.env'), 'TOKEN=2\n');
    await symlink('main.sh', join(dir, 'app', 'link'));
    const ignore = createIgnoreMatcher(parseDockerignore('.env\n**/*.env\napp/skip\n'));
    const c = ctx({ contextDir: dir, contextTree: { root: dir, owners: 'root', ignore } });
    const ro = await run('cd /src && find . | sort && cat app/link', mounts('type=bind,target=/src'), c);
    expect(ro.stdout).toBe('.\n./app\n./app/link\n./app/main.sh\necho main\n');
    const rw = await run('cd /src && rm main.sh && echo x > new && find . | sort', mounts('type=bind,source=app,target=/src,rw'), c);
    expect(rw.stdout).toBe('.\n./link\n./new\n');
    expect(await listTree(dir)).toEqual(['.env', 'app', 'app/creds.env', 'app/link', 'app/main.sh', 'app/skip', 'app/skip/big']);
    await expect(prepareRunMounts(mounts('type=bind,source=.env,target=/e'), c)).rejects.toThrow(/not found/);
    expect(await readdir(join(storeRoot, 'tmp')).then((n) => n.filter((x) => x.startsWith('context-view-')))).toEqual([]);
  });

  it('copies files it cannot link (another filesystem) with their mode and times', async (t) => {
    if (!existsSync('/dev/shm')) {
      console.log('no /dev/shm here: cannot put a context on another filesystem than the store');
      t.skip();
    }
    const dir = await mkdtemp('/dev/shm/tsbuild-ctx-');
    try {
      await writeFile(join(dir, 'tool'), '#!/bin/sh\n');
      await chmod(join(dir, 'tool'), 0o750);
      await utimes(join(dir, 'tool'), 1_600_000_000, 1_600_000_000);
      await writeFile(join(dir, 'skipped'), 'x');
      const ignore = createIgnoreMatcher(parseDockerignore('skipped\n'));
      const c = ctx({ contextDir: dir, contextTree: { root: dir, owners: 'root', ignore } });
      const r = await run('stat -c "%a %Y %n" /src/*', mounts('type=bind,target=/src'), c);
      expect(r.stdout).toBe('750 1600000000 /src/tool\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a single file, and a source that escapes the context stays inside it', async () => {
    const r = await run('cat /h', mounts('type=bind,source=sub/../../../hello.txt,target=/h'));
    expect(r.stdout).toBe('hello from context\n');
    await expect(prepareRunMounts(mounts('type=bind,source=missing,target=/m'), ctx())).rejects.toThrow(/"\/missing" not found/);
  });

  it('from another stage', async () => {
    const stage = await snapshotter.prepare([base], { label: 'bind-from' });
    active.push(stage);
    await mkdir(join(stage.rootfs, 'out'), { recursive: true });
    await writeFile(join(stage.rootfs, 'out', 'artifact'), 'built\n');
    let released = false;
    const c = ctx({ stageRootfs: async () => ({ path: stage.rootfs, release: async () => void (released = true) }) });
    try {
      const r = await run('cat /in/artifact', mounts('type=bind,from=0,source=/out,target=/in'), c);
      expect(r.stdout).toBe('built\n');
      expect(released).toBe(true);
    } finally {
      await stage.discard();
    }
  });
});

describe('RUN --mount=type=tmpfs', () => {
  it('is empty each time and never in the layer', async () => {
    const m = mounts('type=tmpfs,target=/scratch,size=1m');
    const a = await run('ls -A /scratch | wc -l; dd if=/dev/zero of=/scratch/big bs=1k count=2048 2>/dev/null || echo full', m);
    expect(a.stdout.trim().split('\n')).toEqual(['0', 'full']);
    const b = await run('ls -A /scratch | wc -l', m);
    expect(b.stdout.trim()).toBe('0');
    expect(b.upper).toEqual([]);
  });
});

describe('RUN --mount=type=ssh', () => {
  let server: Server;
  let agentDir: string;
  let agent: string;
  beforeAll(async () => {
    agentDir = await mkdtemp(join(tmpdir(), 'tsb-agent-'));
    agent = join(agentDir, 'agent.sock');
    // A stand-in for ssh-agent: it echoes with a prefix, enough to prove bytes get through.
    server = createServer((c) => c.on('data', (d) => c.write(`agent:${d}`)));
    await new Promise<void>((r) => server.listen(agent, r));
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await rm(agentDir, { recursive: true, force: true });
  });

  it('forwards the agent at /run/buildkit/ssh_agent.N with SSH_AUTH_SOCK', async () => {
    const c = ctx({ sshAgents: new Map([['default', agent]]) });
    const r = await run('echo $SSH_AUTH_SOCK; stat -c "%F %a %u" "$SSH_AUTH_SOCK"', mounts('type=ssh'), c);
    expect(r.stdout).toBe('/run/buildkit/ssh_agent.0\nsocket 600 0\n');
    expect(r.upper).toEqual([]);

    const prepared = await prepareRunMounts(mounts('type=bind,target=/x', 'type=ssh,uid=33,mode=0660'), c);
    try {
      expect(prepared.env).toEqual({ SSH_AUTH_SOCK: '/run/buildkit/ssh_agent.1' });
      const sock = prepared.ociMounts.find((m) => m.destination === '/run/buildkit/ssh_agent.1')!.source!;
      expect((await stat(sock)).uid).toBe(33);
      const reply = await new Promise<string>((resolve, reject) => {
        const s = connect(sock, () => s.write('ping'));
        s.on('data', (d) => {
          resolve(d.toString());
          s.end();
        });
        s.on('error', reject);
      });
      expect(reply).toBe('agent:ping');
    } finally {
      await prepared.release();
    }
    await expect(prepareRunMounts(mounts('type=ssh,id=other,required'), c)).rejects.toThrow(/no SSH agent "other"/);
    expect((await prepareRunMounts(mounts('type=ssh,id=other'), c)).ociMounts).toEqual([]);
  });
});

describe('flags and keys', () => {
  it('parses --secret and --ssh as buildx does', () => {
    expect(parseSecretFlag('id=a,src=/f')).toEqual({ id: 'a', source: { type: 'file', path: '/f' } });
    expect(parseSecretFlag('id=a,source=/f')).toEqual({ id: 'a', source: { type: 'file', path: '/f' } });
    expect(parseSecretFlag('id=a,env=VAR')).toEqual({ id: 'a', source: { type: 'env', name: 'VAR' } });
    expect(parseSecretFlag('id=a,type=env,src=VAR')).toEqual({ id: 'a', source: { type: 'env', name: 'VAR' } });
    expect(parseSecretFlag('id=TOK', { TOK: '1' })).toEqual({ id: 'TOK', source: { type: 'env', name: 'TOK' } });
    expect(parseSecretFlag('id=tok', {})).toEqual({ id: 'tok', source: { type: 'file', path: 'tok' } });
    expect(() => parseSecretFlag('src=/f')).toThrow(/secret ID missing/);
    expect(() => parseSecretFlag('id=a,bogus=1')).toThrow(/unexpected key/);
    expect(parseSshFlag('default', { SSH_AUTH_SOCK: '/s' })).toEqual({ id: 'default', socket: '/s' });
    expect(parseSshFlag('gh=/tmp/a.sock', {})).toEqual({ id: 'gh', socket: '/tmp/a.sock' });
    expect(() => parseSshFlag('default', {})).toThrow(/SSH_AUTH_SOCK/);
  });

  it('cacheKeyOf covers what bind mounts read, not cache or secret content', async () => {
    const inputs = (ctxSum: string, stage: string) => ({ stageKey: () => stage, imageDigest: () => 'sha256:img', contextChecksum: () => ctxSum });
    const m = mounts('type=bind,target=/src', 'type=cache,target=/c', 'type=bind,from=0,target=/s');
    const k = await cacheKeyOf(m, inputs('a', 'k1'));
    expect(await cacheKeyOf(m, inputs('a', 'k1'))).toBe(k);
    expect(await cacheKeyOf(m, inputs('b', 'k1'))).not.toBe(k);
    expect(await cacheKeyOf(m, inputs('a', 'k2'))).not.toBe(k);
    expect(await cacheKeyOf(mounts('type=bind,target=/src', 'type=cache,target=/c2', 'type=bind,from=0,target=/s'), inputs('a', 'k1'))).not.toBe(k);
  });
});


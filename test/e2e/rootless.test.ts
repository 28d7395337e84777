import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, chown, lstat, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * A real rootless build: a non-root user (made here if missing, with a subordinate id range) runs the
 * built CLI, which re-executes itself in a user namespace (unshare + newuidmap), unpacks, builds with
 * runc and runs the result. CI runs as root, which is what lets the test create that user.
 */
const repo = resolve(__dirname, '../..');
const bin = join(repo, 'bin/tsbuild.js');
const USER = 'tsbuildrl';
const NOSUB_USER = 'tsbuildrlnosub';
const isRoot = process.geteuid?.() === 0;
const missingTool = ['runuser', 'useradd', 'usermod', 'newuidmap', 'unshare', 'runc'].find((t) => {
  try {
    execFileSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' });
    return false;
  } catch {
    return true;
  }
});
const skipReason = !isRoot ? 'needs root to create a non-root test user' : missingTool ? `${missingTool} is not installed (Debian: uidmap, util-linux, passwd, runc)` : undefined;
if (skipReason) console.warn(`rootless e2e skipped: ${skipReason}`);

let work: string;

function uidOf(user: string): number | undefined {
  try {
    return Number(execFileSync('id', ['-u', user]).toString().trim());
  } catch {
    return undefined;
  }
}

function subEntries(file: string, user: string, uid: number): string[] {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith(`${user}:`) || l.startsWith(`${uid}:`));
}

/** Creates `user` if missing; gives it a subordinate range (or takes its ranges away). */
function ensureUser(user: string, withSubIds: boolean): number {
  if (uidOf(user) === undefined) execFileSync('useradd', ['-M', '-d', '/nonexistent', '-s', '/bin/sh', '-K', 'SUB_UID_COUNT=0', '-K', 'SUB_GID_COUNT=0', user]);
  const uid = uidOf(user)!;
  for (const [file, flag] of [['/etc/subuid', 'uids'], ['/etc/subgid', 'gids']] as const) {
    const lines = subEntries(file, user, uid);
    if (withSubIds && lines.length === 0) {
      // A range clear of any other user's: past every range in the file.
      const ends = readFileSync(file, 'utf8').split('\n').map((l) => l.split(':')).filter((f) => f.length === 3).map((f) => Number(f[1]) + Number(f[2]));
      const start = Math.max(300000, ...ends);
      execFileSync('usermod', [`--add-sub${flag}`, `${start}-${start + 65535}`, user]);
    } else if (!withSubIds) {
      for (const l of lines) {
        const [, s, c] = l.split(':');
        execFileSync('usermod', [`--del-sub${flag}`, `${s}-${Number(s) + Number(c) - 1}`, user]);
      }
    }
  }
  return uid;
}

/** Runs the built CLI as `user` with HOME `home` (so the store is ~/.local/share/tsbuild there). */
function tsbuildAs(user: string, home: string, args: string[], extraEnv: string[] = []): Promise<{ code: number; out: string; err: string }> {
  const env = [`HOME=${home}`, 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...extraEnv];
  const child = spawn('runuser', ['-u', user, '--', 'env', '-i', ...env, process.execPath, bin, ...args], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  return new Promise((res, rej) => {
    child.on('error', rej);
    child.on('close', (code) => res({ code: code ?? 1, out, err }));
  });
}

/** Host uids of the files under `dir` (the store's snapshots), to see the namespace's id map at work. */
async function ownersUnder(dir: string): Promise<Set<number>> {
  const owners = new Set<number>();
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      owners.add((await lstat(p)).uid);
      if (e.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  return owners;
}

describe.skipIf(skipReason !== undefined)('rootless build (non-root user, user namespace, runc)', () => {
  let uid: number;
  let home: string;
  let subStart: number;

  beforeAll(async () => {
    if (!existsSync(join(repo, 'dist/src/cli/main.js'))) throw new Error('dist/ is missing: run `npm run build` first (the test runs bin/tsbuild.js)');
    uid = ensureUser(USER, true);
    subStart = Number(subEntries('/etc/subuid', USER, uid)[0]!.split(':')[1]);
    work = await mkdtemp(join(tmpdir(), 'tsbuild-e2e-rootless-'));
    await chmod(work, 0o755);
    execFileSync(join(repo, 'testdata/make-busybox-image.sh'), [join(work, 'busybox')]);
    const ctx = join(work, 'ctx');
    await mkdir(ctx);
    await writeFile(join(ctx, 'msg.txt'), 'hello from COPY\n');
    await writeFile(
      join(ctx, 'Dockerfile'),
      [
        'FROM busybox:latest',
        'COPY msg.txt /app/msg.txt',
        'RUN echo "RUN as uid $(id -u)" > /app/run.txt && mkdir /app/owned && echo x > /app/owned/f && chown -R 1000:1000 /app/owned',
        'CMD ["sh", "-c", "cat /app/msg.txt /app/run.txt; stat -c \'%u:%g\' /app/owned/f"]',
        '',
      ].join('\n'),
    );
    const cached = join(work, 'cached');
    await mkdir(cached);
    await writeFile(
      join(cached, 'Dockerfile'),
      ['FROM busybox:latest', 'RUN --mount=type=cache,target=/cache,id=rl,uid=1000 mkdir -p /cache/sub && echo kept > /cache/sub/f && cat /cache/sub/f > /seen', ''].join('\n'),
    );
    const replace = join(work, 'replace');
    await mkdir(replace);
    await writeFile(
      join(replace, 'Dockerfile'),
      ['FROM busybox:latest', 'RUN mkdir -p /d/sub && touch /d/old /d/sub/f', 'RUN rm -rf /d && mkdir /d && touch /d/new', 'CMD ["ls", "-R", "/d"]', ''].join('\n'),
    );
    execFileSync('chmod', ['-R', 'a+rX', work]);
    home = join(work, 'home');
    await mkdir(home);
    await chown(home, uid, uid);
  }, 60_000);

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
    await rm(join(tmpdir(), `tsbuild-runtime-${uid}`), { recursive: true, force: true });
  });

  it('loads, builds (COPY, RUN, chown to another uid) and runs an image as a non-root user', async () => {
    const load = await tsbuildAs(USER, home, ['load', '-i', join(work, 'busybox'), '-t', 'busybox:latest']);
    expect(load.code, load.err).toBe(0);
    const build = await tsbuildAs(USER, home, ['build', '--progress', 'plain', '-t', 'rootless:1', join(work, 'ctx')]);
    expect(build.code, build.err).toBe(0);
    expect(build.err).toContain('RUN echo');
    const run = await tsbuildAs(USER, home, ['run', 'rootless:1']);
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    // Inside, the user is root; the file chowned to 1000 keeps that owner through the layer.
    expect(run.out).toBe('hello from COPY\nRUN as uid 0\n1000:1000\n');
    const none = await tsbuildAs(USER, home, ['run', '--network', 'none', 'rootless:1', 'sh', '-c', 'ls /sys/class/net && id -u']);
    expect(none.code, none.err).toBe(0);
    expect(none.out).toBe('lo\n0\n');

    // The store is the user's own, and on the host its files belong to the user and to the user's
    // subordinate range (uid 1000 inside is subStart + 999 outside): a full id map, not a single id.
    const store = join(home, '.local/share/tsbuild');
    expect((await lstat(store)).uid).toBe(uid);
    const owners = await ownersUnder(join(store, 'snapshots'));
    expect(owners.has(uid)).toBe(true);
    expect(owners.has(subStart + 999)).toBe(true);
    expect(owners.has(0)).toBe(false);
  }, 120_000);

  it('a warm rebuild as the same user runs no step', async () => {
    const again = await tsbuildAs(USER, home, ['build', '--progress', 'plain', '-t', 'rootless:1', join(work, 'ctx')]);
    expect(again.code, again.err).toBe(0);
    expect(again.err).toMatch(/#2 \[2\/3\] COPY[^\n]*\n#2 CACHED\n/);
    expect(again.err).toMatch(/#3 \[3\/3\] RUN[^\n]*\n#3 CACHED\n/);
  }, 60_000);

  it('a RUN cache mount owned by another uid works, and prune --cache-mounts (also re-executed) removes it', async () => {
    const build = await tsbuildAs(USER, home, ['build', '--progress', 'plain', '-t', 'cached:1', join(work, 'cached')]);
    expect(build.code, build.err).toBe(0);
    const mounts = join(home, '.local/share/tsbuild/cache-mounts');
    const owners = await ownersUnder(mounts);
    expect(owners.has(subStart + 999)).toBe(true);
    const prune = await tsbuildAs(USER, home, ['prune', '--cache-mounts']);
    expect(prune.code, prune.err).toBe(0);
    const left = existsSync(mounts) ? await ownersUnder(mounts) : new Set<number>();
    expect(left.has(subStart + 999)).toBe(false);
  }, 60_000);

  // Replacing a directory makes an opaque dir, marked by an xattr that a user namespace may only
  // set in user.*: overlayfs is mounted with userxattr there, and the copy snapshotter follows suit.
  for (const snapshotter of ['overlay', 'copy']) {
    it(`${snapshotter} snapshots: a step that replaces a directory hides the old contents`, async () => {
      const tag = `replace-${snapshotter}:1`;
      const env = [`TSBUILD_SNAPSHOTTER=${snapshotter}`];
      const build = await tsbuildAs(USER, home, ['build', '--no-cache', '--progress', 'plain', '-t', tag, join(work, 'replace')], env);
      expect(build.code, build.err).toBe(0);
      const run = await tsbuildAs(USER, home, ['run', tag], env);
      expect(run.code, run.err).toBe(0);
      expect(run.out).toBe('/d:\nnew\n');
    }, 60_000);
  }

  it('when the namespace cannot be entered (newuidmap refuses), says so in one line', async () => {
    const fake = join(work, 'fakebin');
    await mkdir(fake);
    await writeFile(join(fake, 'newuidmap'), '#!/bin/sh\necho "newuidmap: refused by the test" >&2\nexit 1\n');
    await chmod(fake, 0o755);
    await chmod(join(fake, 'newuidmap'), 0o755);
    const r = await tsbuildAs(USER, home, ['build', join(work, 'ctx')], [`PATH=${fake}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`]);
    expect(r.code).toBe(1);
    expect(r.err.split('\n')[0]).toBe('tsbuild: rootless: cannot enter a user namespace: newuidmap: refused by the test');
  }, 60_000);

  it('without a subordinate uid range, says what is missing in one line and how to add it', async () => {
    const nosubUid = ensureUser(NOSUB_USER, false);
    const nosubHome = join(work, 'home-nosub');
    await mkdir(nosubHome);
    await chown(nosubHome, nosubUid, nosubUid);
    const r = await tsbuildAs(NOSUB_USER, nosubHome, ['build', join(work, 'ctx')]);
    expect(r.code).toBe(1);
    const lines = r.err.trim().split('\n');
    expect(lines[0]).toBe(`tsbuild: rootless: no subordinate uid range for user ${NOSUB_USER} (uid ${nosubUid}) in /etc/subuid`);
    expect(lines[1]).toBe(`hint: as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${NOSUB_USER}`);
    expect(lines.length).toBe(2);
    // Commands that need no namespace still work for that user.
    const help = await tsbuildAs(NOSUB_USER, nosubHome, ['images']);
    expect(help.code, help.err).toBe(0);
  }, 60_000);
});

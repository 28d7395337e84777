import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureUnpacked, snapshotWorkRoot } from '../../src/build/snapshot/layer-cache.js';
import { OverlaySnapshotter } from '../../src/build/snapshot/overlay.js';
import type { ActiveSnapshot } from '../../src/build/snapshot/snapshotter.js';
import { hostNofileLimit, runContainer, type RunContainerOptions, RuntimeError } from '../../src/build/runtime/runner.js';
import { UserError } from '../../src/build/runtime/user.js';
import { makeBusyboxImage, mountsUnder, runcList } from './runtime-fixtures.js';

let root: string;
let base: string;
let snapshotter: OverlaySnapshotter;
const active: ActiveSnapshot[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'tsbuild-runtime-'));
  const image = await makeBusyboxImage();
  base = await ensureUnpacked(image.source(root), image.layer);
  await image.cleanup();
  snapshotter = new OverlaySnapshotter({ workRoot: snapshotWorkRoot(root) });
});

afterAll(async () => {
  for (const s of active) await s.discard();
  if (root) await rm(root, { recursive: true, force: true });
});

function sink() {
  const s = new PassThrough();
  let text = '';
  s.setEncoding('utf8').on('data', (d: string) => (text += d));
  return { s, text: () => text };
}

async function run(args: string[], opts: Partial<RunContainerOptions> = {}) {
  const snap = await snapshotter.prepare([base], { label: 'rt' });
  active.push(snap);
  const out = sink();
  const err = sink();
  try {
    const res = await runContainer({ rootfs: snap.rootfs, args, stdout: out.s, stderr: err.s, ...opts });
    return { ...res, stdout: out.text(), stderr: err.text(), snap };
  } finally {
    await snap.release();
  }
}

describe('runContainer (runc on an overlay over busybox)', () => {
  it('runs a command and streams its output', async () => {
    const r = await run(['/bin/sh', '-c', 'echo hello; echo oops >&2']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('hello\n');
    expect(r.stderr).toBe('oops\n');
  });

  it('returns the exit code', async () => {
    expect((await run(['/bin/sh', '-c', 'exit 42'])).exitCode).toBe(42);
    // PID 1 ignores signals it has no handler for, so the signalled process is a child.
    const killed = await run(['/bin/sh', '-c', '/bin/sh -c "kill -TERM \\$\\$"; exit $?']);
    expect(killed.exitCode).toBe(143);
    expect(killed.signal).toBe('SIGTERM');
  });

  it('passes env and cwd, with a default PATH', async () => {
    const r = await run(['/bin/sh', '-c', 'echo "$FOO|$PATH|$(pwd)|$HOME"'], { env: ['FOO=bar baz'], cwd: '/tmp' });
    expect(r.stdout).toBe('bar baz|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|/tmp|/root\n');
  });

  it('resolves USER through /etc/passwd and /etc/group', async () => {
    expect((await run(['/bin/sh', '-c', 'id -u; id -g'], { user: 'www-data' })).stdout).toBe('33\n33\n');
    expect((await run(['/bin/sh', '-c', 'id -u; id -g'], { user: '1234' })).stdout).toBe('1234\n0\n');
    expect((await run(['/bin/sh', '-c', 'id -u; id -g'], { user: 'daemon:users' })).stdout).toBe('1\n100\n');
    expect((await run(['/bin/sh', '-c', 'id -u; id -g'], { user: '5:6' })).stdout).toBe('5\n6\n');
    await expect(run(['true'], { user: 'nosuchuser' })).rejects.toThrow(UserError);
    await expect(run(['true'], { user: 'root:nogroupnamed' })).rejects.toThrow(/unable to find group nogroupnamed/);
  });

  it('network none has only lo; host network sees the host interfaces', async () => {
    const none = await run(['/bin/sh', '-c', 'ls /sys/class/net'], { network: 'none' });
    expect(none.stdout.split(/\s+/).filter(Boolean)).toEqual(['lo']);
    const host = await run(['/bin/sh', '-c', 'ls /sys/class/net'], { network: 'host' });
    expect(host.stdout.split(/\s+/).filter(Boolean).length).toBeGreaterThan(1);
  });

  it('mounts /proc, /dev, /sys read-only, resolv.conf and hosts, with capped rlimits and a hostname', async () => {
    const r = await run(
      ['/bin/sh', '-c', 'cat /proc/self/limits | grep "open files"; ls /dev/null /dev/pts/ptmx /dev/shm >/dev/null && echo dev; touch /sys/x 2>/dev/null || echo sys-ro; grep -c localhost /etc/hosts; hostname; echo $$'],
      { hostname: 'builder' },
    );
    const limit = Math.min(1048576, await hostNofileLimit());
    expect(r.stdout).toMatch(new RegExp(`Max open files\\s+${limit}\\s+${limit}\\s`));
    expect(r.stdout).toContain('dev\nsys-ro\n');
    expect(r.stdout).toContain('builder\n1\n');
  });

  it('keeps mount-point stubs out of the upper dir; it holds the new file and a whiteout', async () => {
    const r = await run(['/bin/sh', '-c', 'touch /new && rm /bin/ls']);
    expect(r.exitCode).toBe(0);
    const upper = r.snap.upperdir;
    expect((await readdir(upper)).sort()).toEqual(['bin', 'new']);
    expect(await readdir(join(upper, 'bin'))).toEqual(['ls']);
    const { lstat } = await import('node:fs/promises');
    const wh = await lstat(join(upper, 'bin', 'ls'));
    expect(wh.isCharacterDevice() && wh.rdev === 0).toBe(true);
  });

  it('aborting a long sleep kills it and leaves no mount and no runc state', async () => {
    const ac = new AbortController();
    const p = run(['/bin/sleep', '600'], { signal: ac.signal });
    setTimeout(() => ac.abort(), 300);
    const r = await p;
    expect(r.aborted).toBe(true);
    expect(runcList().filter((id) => id.startsWith('tsbuild-'))).toEqual([]);
    expect(mountsUnder(root)).toEqual([]);
  });

  it('an abort during the set-up before the container starts is not missed', async () => {
    const snap = await snapshotter.prepare([base], { label: 'rt' });
    active.push(snap);
    try {
      const ac = new AbortController();
      // Aborted in the same tick, i.e. while runContainer awaits its bundle writes: before the listener exists.
      const p = runContainer({ rootfs: snap.rootfs, args: ['/bin/sleep', '20'], user: 'root', stdout: sink().s, stderr: sink().s, signal: ac.signal });
      ac.abort();
      const r = await p;
      expect(r.aborted).toBe(true);
      expect(runcList().filter((id) => id.startsWith('tsbuild-'))).toEqual([]);
    } finally {
      await snap.release();
    }
  });

  it('aborting right after the container is spawned still kills it', async () => {
    const snap = await snapshotter.prepare([base], { label: 'rt' });
    active.push(snap);
    try {
      const ac = new AbortController();
      const p = runContainer({ rootfs: snap.rootfs, args: ['/bin/sleep', '20'], stdout: sink().s, stderr: sink().s, signal: ac.signal });
      // Abort as soon as runc has been started (the bundle dir exists and runc is running).
      await new Promise((r) => setTimeout(r, 50));
      ac.abort();
      const r = await p;
      expect(r.aborted).toBe(true);
      expect(r.exitCode).not.toBe(0);
      expect(runcList().filter((id) => id.startsWith('tsbuild-'))).toEqual([]);
    } finally {
      await snap.release();
    }
  });

  it('reports a command that cannot be started as a runtime error', async () => {
    await expect(run(['/nonexistent'])).rejects.toThrow(/^runc: unable to start container process: exec: "\/nonexistent"/);
    expect(runcList().filter((id) => id.startsWith('tsbuild-'))).toEqual([]);
  });

  it('reports crun refusing this host in one line (or runs when it can)', async () => {
    try {
      const r = await run(['/bin/sh', '-c', 'echo via-crun'], { runtime: 'crun' });
      expect(r.stdout).toBe('via-crun\n');
    } catch (e) {
      expect(e).toBeInstanceOf(RuntimeError);
      expect((e as Error).message).toMatch(/^crun refuses this host's cgroup setup \(.*\); use --runtime runc$/);
      expect((e as Error).message).not.toContain('\n');
      console.log(`crun: ${(e as Error).message}`);
    }
  });
});

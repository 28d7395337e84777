import { execFileSync, spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeSyscalls } from '../../src/native/syscalls.js';

// The native module (dist/native/syscalls.node, built by `npm run build`) against the real kernel:
// an overlay mount, whiteouts, trusted.* xattrs and nanosecond times, as root.
const native = nativeSyscalls();
if (!native) console.warn('native syscalls not built (no C compiler or Node headers at npm run build): skipping their tests');

const repo = join(import.meta.dirname, '..', '..');
let work: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'tsbuild-native-'));
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe.skipIf(!native)('native syscalls', () => {
  it('mounts an overlay, whose writes land in the upper dir, and unmounts it', () => {
    const d = join(work, 'ovl');
    for (const sub of ['lower/dir', 'upper', 'work', 'merged']) mkdirSync(join(d, sub), { recursive: true });
    writeFileSync(join(d, 'lower', 'dir', 'old.txt'), 'old');
    native!.mount('overlay', join(d, 'merged'), 'overlay', 0, `lowerdir=${join(d, 'lower')},upperdir=${join(d, 'upper')},workdir=${join(d, 'work')}`);
    try {
      expect(readFileSync(join(d, 'merged', 'dir', 'old.txt'), 'utf8')).toBe('old');
      writeFileSync(join(d, 'merged', 'dir', 'new.txt'), 'new');
      rmSync(join(d, 'merged', 'dir', 'old.txt'));
    } finally {
      native!.umount(join(d, 'merged'), 0);
    }
    expect(readFileSync('/proc/mounts', 'utf8')).not.toContain(join(d, 'merged'));
    expect(readFileSync(join(d, 'upper', 'dir', 'new.txt'), 'utf8')).toBe('new');
    // The deletion is an overlay whiteout: a 0/0 character device.
    const wh = lstatSync(join(d, 'upper', 'dir', 'old.txt'));
    expect(wh.isCharacterDevice() && wh.rdev === 0).toBe(true);
  });

  it('throws errors like Node\'s own, with code and syscall', () => {
    const err = (() => {
      try {
        native!.umount(join(work, 'not-mounted-anywhere'), 0);
      } catch (e) {
        return e as NodeJS.ErrnoException;
      }
    })();
    expect(err?.code).toBe('ENOENT');
    expect(err?.syscall).toBe('umount2');
    expect(err?.message).toContain('not-mounted-anywhere');
  });

  it('makes whiteouts, and sets, lists, reads and removes xattrs without following symlinks', () => {
    const wh = join(work, 'whiteout');
    native!.mknod(wh, 0o20000, 0, 0);
    expect(lstatSync(wh).isCharacterDevice()).toBe(true);
    const dir = join(work, 'opaque');
    mkdirSync(dir);
    expect(native!.lgetxattr(dir, 'trusted.overlay.opaque')).toBeNull();
    native!.lsetxattr(dir, 'trusted.overlay.opaque', Buffer.from('y'));
    native!.lsetxattr(dir, 'user.note', Buffer.from([0, 1, 2, 255]));
    expect(native!.llistxattr(dir).sort()).toEqual(['trusted.overlay.opaque', 'user.note']);
    expect(native!.lgetxattr(dir, 'user.note')).toEqual(Buffer.from([0, 1, 2, 255]));
    // getfattr, the tool this replaces, sees the same.
    if (spawnSync('getfattr', ['--version']).status === 0) expect(execFileSync('getfattr', ['-h', '-n', 'trusted.overlay.opaque', '--only-values', dir]).toString()).toBe('y');
    native!.lremovexattr(dir, 'trusted.overlay.opaque');
    native!.lremovexattr(dir, 'trusted.overlay.opaque');
    expect(native!.llistxattr(dir)).toEqual(['user.note']);
  });

  it('sets nanosecond times on a symlink itself', () => {
    const link = join(work, 'link');
    execFileSync('ln', ['-s', '/nonexistent', link]);
    native!.lutimens(link, 1_700_000_000n, 123_456_789);
    expect(lstatSync(link, { bigint: true }).mtimeNs).toBe(1_700_000_000_123_456_789n);
  });
});

describe.skipIf(!native)('without the native module', () => {
  it('a build spawning the tools instead gives the same image, byte for byte', () => {
    const ctx = join(work, 'ctx');
    mkdirSync(join(ctx, 'etc'), { recursive: true });
    writeFileSync(join(ctx, 'etc', 'app.conf'), 'x=1\n');
    // Whiteouts (rm), an opaque directory (a dir replaced), a copied tree and a WORKDIR.
    writeFileSync(
      join(ctx, 'Dockerfile'),
      'FROM busybox:latest\nRUN mkdir -p /srv/a /srv/b && echo 1 > /srv/a/f && echo 2 > /srv/b/g\nRUN rm -rf /srv/a && rm -rf /srv/b && mkdir /srv/b && echo 3 > /srv/b/h && rm /bin/true\nCOPY etc /etc/app/\nWORKDIR /work\n',
    );
    const layout = join(work, 'busybox');
    execFileSync('bash', [join(repo, 'testdata', 'make-busybox-image.sh'), layout], { stdio: 'ignore' });
    const digest = (root: string, env: NodeJS.ProcessEnv) => {
      const cli = (args: string[]) => execFileSync(join(repo, 'bin', 'tsbuild'), ['--root', root, ...args], { env: { ...process.env, SOURCE_DATE_EPOCH: '1700000000', ...env }, encoding: 'utf8' });
      cli(['load', '--input', layout, '--tag', 'busybox:latest']);
      cli(['build', '--progress', 'plain', '-t', 'same', '--iidfile', join(root, 'iid'), ctx]);
      return readFileSync(join(root, 'iid'), 'utf8').trim();
    };
    const withNative = digest(join(work, 'native-root'), {});
    const withTools = digest(join(work, 'tools-root'), { TSBUILD_NO_NATIVE: '1' });
    expect(withNative).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(withTools).toBe(withNative);
    expect(statSync(join(repo, 'dist', 'native', 'syscalls.node')).isFile()).toBe(true);
  }, 120_000);
});

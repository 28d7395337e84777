import { execFileSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOciLayout } from '../../src/store/oci-layout.js';
import { openStore } from '../../src/store/store.js';
import { runCli } from '../helpers/cli.js';

// Regressions found by parity.test.ts, checked on tsbuild alone (no buildah needed), on the exported rootfs.
const repo = resolve(__dirname, '../..');
let work: string;
let root: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'tsbuild-parity-reg-'));
  root = join(work, 'store');
  const store = await openStore(root);
  execFileSync(join(repo, 'testdata/make-busybox-image.sh'), [join(work, 'busybox')]);
  await loadOciLayout(store, join(work, 'busybox'), { defaultName: 'busybox:latest' });
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('parity regressions', () => {
  it('keeps setuid from --chmod and ADDed archives, copies a gzip that is no tar as is, keeps context hardlinks, mounts over repeated identical layers', async () => {
    const ctx = join(work, 'ctx');
    await mkdir(join(ctx, 'src/pkg'), { recursive: true });
    await writeFile(join(ctx, 'a.txt'), 'alpha\n');
    await writeFile(join(ctx, 'src/pkg/tool'), '#!/bin/sh\n', { mode: 0o755 });
    execFileSync('chmod', ['4755', join(ctx, 'src/pkg/tool')]);
    execFileSync('tar', ['-C', join(ctx, 'src'), '--owner=42', '--group=43', '--numeric-owner', '-czf', join(ctx, 'pkg.tar.gz'), 'pkg']);
    execFileSync('sh', ['-c', `echo just text | gzip -n > ${join(ctx, 'text.gz')}`]);
    await writeFile(join(ctx, '.dockerignore'), 'src\n');
    await mkdir(join(ctx, 'tree'));
    await writeFile(join(ctx, 'tree/one'), 'one\n');
    execFileSync('ln', [join(ctx, 'tree/one'), join(ctx, 'tree/two')]);
    await writeFile(
      join(ctx, 'Dockerfile'),
      [
        'FROM busybox',
        // chown after chmod used to clear the setuid bit the chmod had set.
        'COPY --chown=1:1 --chmod=4755 a.txt /suid',
        'ADD pkg.tar.gz /opt/',
        'ADD text.gz /gz/',
        // Hardlinks in the context stay hardlinks, as BuildKit copies them.
        'COPY tree /tree/',
        // Two layers with the same (empty) content are one snapshot: the lowerdir must not repeat.
        'RUN true',
        'RUN true',
        'RUN echo ok > /after',
      ].join('\n'),
    );
    const out = join(work, 'rootfs');
    const r = await runCli(['--root', root, 'build', '--progress', 'plain', '-t', 'reg:1', '--output', `type=local,dest=${out}`, ctx]);
    expect(r.code, r.stderr).toBe(0);
    const suid = await lstat(join(out, 'suid'));
    expect([suid.mode & 0o7777, suid.uid, suid.gid]).toEqual([0o4755, 1, 1]);
    const tool = await lstat(join(out, 'opt/pkg/tool'));
    expect([tool.mode & 0o7777, tool.uid, tool.gid]).toEqual([0o4755, 42, 43]);
    expect(execFileSync('gzip', ['-dc', join(out, 'gz/text.gz')]).toString()).toBe('just text\n');
    expect(await readFile(join(out, 'after'), 'utf8')).toBe('ok\n');
    const [one, two] = await Promise.all([lstat(join(out, 'tree/one')), lstat(join(out, 'tree/two'))]);
    expect(two.ino).toBe(one.ino);
  }, 120_000);
});

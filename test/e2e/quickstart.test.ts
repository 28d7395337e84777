import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry } from '../../registry-server/server.js';
import { runCli } from '../helpers/cli.js';

// The Quick start's main job, as scripts/demo.sh runs it, through the real CLI: the bundled registry,
// a busybox base pushed to it, a build with RUN and COPY in runc over overlayfs, push, pull into an
// empty store, run. Nothing is mocked.
const repo = resolve(import.meta.dirname, '../..');
let work: string;
let registry: Awaited<ReturnType<typeof startRegistry>>;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'tsbuild-quickstart-'));
  execFileSync('bash', [join(repo, 'testdata/make-busybox-image.sh'), join(work, 'busybox')]);
  registry = await startRegistry({ addr: '127.0.0.1:0', root: join(work, 'registry') });
});

afterAll(async () => {
  await registry?.close();
  await rm(work, { recursive: true, force: true });
});

describe('quick start: build, push, pull, run', () => {
  it('builds testdata/demo FROM the busybox base, round-trips it through the registry and runs it', async () => {
    const base = `${registry.host}/library/busybox:latest`;
    const image = `${registry.host}/demo/hello:latest`;
    const buildRoot = join(work, 'build-store');
    const pullRoot = join(work, 'pull-store');

    const copy = await runCli(['copy', `oci:${join(work, 'busybox')}:latest`, base]);
    expect(copy.stderr + copy.stdout).not.toContain('tsbuild:');
    expect(copy.code).toBe(0);

    const build = await runCli(['--root', buildRoot, '-t', image, '--progress', 'plain', '--build-arg', `BASE=${base}`, join(repo, 'testdata/demo')]);
    expect(build.code, build.stderr).toBe(0);
    expect(build.stderr).toMatch(/RUN echo/);
    expect(build.stderr).toMatch(/COPY message\.txt/);

    const push = await runCli(['--root', buildRoot, 'push', image]);
    expect(push.code, push.stderr).toBe(0);
    const pushed = /latest: digest: (sha256:[a-f0-9]{64}) size: \d+/.exec(push.stdout + push.stderr);
    expect(pushed).not.toBeNull();

    const pull = await runCli(['--root', pullRoot, 'pull', image]);
    expect(pull.code, pull.stderr).toBe(0);
    expect(pull.stdout + pull.stderr).toContain(pushed![1]);

    const run = await runCli(['--root', pullRoot, 'run', '--rm', image]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('hello from a RUN step, built by tsbuild');
    expect(run.stdout).toContain('This file was copied from the build context with COPY.');
    expect(run.stdout).toContain('running as 0:0 in /app');

    // Nothing of the build or the run stays mounted.
    const mounts = execFileSync('cat', ['/proc/mounts'], { encoding: 'utf8' });
    expect(mounts).not.toContain(work);
  });
});

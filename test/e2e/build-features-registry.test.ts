import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry } from '../../registry-server/server.js';
import { loadImage } from '../../src/image/image.js';
import { openStore } from '../../src/store/store.js';
import { runCli } from '../helpers/cli.js';

// Builds against our own registry, started in this process (startRegistry) on an ephemeral loopback
// port: FROM pulled from it, blob mounts on push, --push, and the registry build cache on an empty store.
const repo = resolve(import.meta.dirname, '../..');
let work: string;
let registry: Awaited<ReturnType<typeof startRegistry>>;
let base: string;
let n = 0;

const env = { ...process.env, HOME: '/nonexistent', SOURCE_DATE_EPOCH: '1700000000' };
const cli = (root: string, args: string[]) => runCli(['--root', root, ...args], { env });
const freshRoot = () => join(work, `store-${n++}`);

async function context(files: Record<string, string>): Promise<string> {
  const dir = join(work, `ctx-${n++}`);
  await mkdir(dir, { recursive: true });
  for (const [p, content] of Object.entries(files)) await writeFile(join(dir, p), content);
  return dir;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'tsbuild-e2e-features-reg-'));
  execFileSync('bash', [join(repo, 'testdata/make-busybox-image.sh'), join(work, 'busybox')]);
  registry = await startRegistry({ addr: '127.0.0.1:0', root: join(work, 'registry') });
  base = `${registry.host}/library/busybox:latest`;
  const copy = await runCli(['copy', `oci:${join(work, 'busybox')}:latest`, base], { env });
  expect(copy.code, copy.stderr).toBe(0);
});

afterAll(async () => {
  await registry?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('builds with a registry', () => {
  it('FROM pulled from the registry shows its expanded name; a push to another repository mounts the base layers', async () => {
    const root = freshRoot();
    const ctx = await context({ Dockerfile: 'ARG BASE=busybox\nFROM ${BASE}\nRUN echo built > /built.txt\n' });
    const image = `${registry.host}/apps/web:1`;
    const build = await cli(root, ['build', '--progress', 'plain', '--build-arg', `BASE=${base}`, '-t', image, ctx]);
    expect(build.code, build.stderr).toBe(0);
    expect(build.stderr).toContain(`[1/2] FROM ${base}`);
    expect(build.stderr).not.toMatch(/FROM \$\{?BASE/);

    const push = await cli(root, ['push', image]);
    expect(push.code, push.stderr).toBe(0);
    const out = push.stdout + push.stderr;
    // The busybox base has one layer: mounted from where the build pulled it, not uploaded again.
    expect(out).toMatch(/: Mounted from library\/busybox/);
    expect(out.match(/: Pushed/g)?.length).toBe(1); // only the RUN layer went up
  });

  it('--push to the in-process registry completes (with a multi-MiB layer) and the pushed image pulls back', async () => {
    const root = freshRoot();
    const ctx = await context({ Dockerfile: `FROM ${base}\nRUN head -c 12582912 /dev/urandom > /big.bin && echo pushed > /p.txt\n` });
    const image = `${registry.host}/apps/pushed:1`;
    const build = await cli(root, ['build', '--progress', 'plain', '-t', image, '--push', ctx]);
    expect(build.code, build.stderr).toBe(0);
    const pushed = /1: digest: (sha256:[0-9a-f]{64}) size: \d+/.exec(build.stderr);
    expect(pushed, build.stderr).not.toBeNull();
    const pull = await cli(freshRoot(), ['pull', image]);
    expect(pull.code, pull.stderr).toBe(0);
    expect(pull.stdout).toContain(`Digest: ${pushed![1]}`);
    expect(pull.stdout).toMatch(/Pull complete/);
  });

  it('--cache-from a registry cache on an empty store runs no RUN step and gives the same image', async () => {
    const ctx = await context({
      'app.txt': 'application\n',
      Dockerfile: [
        `FROM ${base} AS deps`,
        'RUN echo "ran-$((40 + 1))" && echo deps > /deps.txt',
        `FROM ${base}`,
        'COPY app.txt /app/',
        'COPY --from=deps /deps.txt /app/',
        'RUN echo "ran-$((40 + 2))" && cat /app/*.txt > /app/all.txt',
        '',
      ].join('\n'),
    });
    const cacheRef = `${registry.host}/cache/app:buildcache`;
    const first = await cli(freshRoot(), ['build', '--progress', 'plain', '-t', 'app:1', '--iidfile', join(work, 'iid1'), '--cache-to', `type=registry,ref=${cacheRef},mode=max`, ctx]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain('ran-41');
    expect(first.stderr).toContain('ran-42');

    // A second machine: an empty store, only the registry.
    const emptyRoot = freshRoot();
    const second = await cli(emptyRoot, ['build', '--progress', 'plain', '-t', 'app:1', '--iidfile', join(work, 'iid2'), '--cache-from', `type=registry,ref=${cacheRef}`, ctx]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).not.toContain('ran-41');
    expect(second.stderr).not.toContain('ran-42');
    const runs = second.stderr.match(/#\d+ \[[^\]]*\] RUN [^\n]*\n#\d+ CACHED/g) ?? [];
    expect(runs.length).toBe(2);
    const id = (f: string) => execFileSync('cat', [join(work, f)], { encoding: 'utf8' });
    expect(id('iid2')).toBe(id('iid1'));
  });
});

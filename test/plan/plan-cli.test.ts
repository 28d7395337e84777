import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

const tsbuild = (env: Record<string, string>, ...argv: string[]) => runCli(argv, { env });

describe('tsbuild plan', () => {
  let ctx: string;
  beforeAll(async () => {
    ctx = await mkdtemp(join(tmpdir(), 'tsbuild-plan-'));
    await writeFile(join(ctx, 'Dockerfile'), 'ARG BASE=busybox\nFROM $BASE AS one\nARG V\nRUN echo $V\nFROM scratch AS two\nCOPY --from=one /bin/sh /sh\n');
    await writeFile(join(ctx, 'other.Dockerfile'), 'FROM busybox\nCOPY --from=nowhere!! /x /x\n');
    await writeFile(join(ctx, 'bad.Dockerfile'), 'FROM busybox\nCOPY ${X:?need-X} /x\n');
  });
  afterAll(async () => {
    await rm(ctx, { recursive: true, force: true });
  });

  it('prints the graph as JSON with --build-arg, --target and --platform', async () => {
    const r = await tsbuild({ V: 'from-env' }, 'plan', '--build-arg', 'BASE=alpine:3.20', '--build-arg', 'V', '--platform', 'linux/arm64', ctx);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const g = JSON.parse(r.stdout);
    expect(g.target).toBe(1);
    expect(g.order).toEqual([[0], [1]]);
    expect(g.stages[0].base).toEqual({ type: 'image', ref: 'alpine:3.20' });
    expect(g.stages[0].steps[0].args).toEqual([{ key: 'V', value: 'from-env' }]);
    expect(g.stages[1].dependsOn).toEqual([0]);
    expect(g.predefinedArgs.TARGETARCH).toBe('arm64');

    const t = await tsbuild({}, 'plan', '--target', 'one', ctx);
    expect(t.code).toBe(0);
    expect(JSON.parse(t.stdout).order).toEqual([[0]]);
  });

  it('fails with one located line for Dockerfile errors', async () => {
    const r = await tsbuild({}, 'plan', '-f', join(ctx, 'bad.Dockerfile'), ctx);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/bad\.Dockerfile:2:1: .*X: need-X/);
    const o = await tsbuild({}, 'plan', '-f', join(ctx, 'other.Dockerfile'), ctx);
    expect(o.code).toBe(1);
    expect(o.stderr).toMatch(/other\.Dockerfile:2:1: --from=nowhere!! names no stage and is not a valid image reference/);
  });

  it('reports an unknown target and a missing Dockerfile', async () => {
    const r = await tsbuild({}, 'plan', '--target', 'three', ctx);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('target stage "three" could not be found');
    const m = await tsbuild({}, 'plan', join(ctx, 'nope'));
    expect(m.code).toBe(1);
    expect(m.stderr).toContain('cannot read Dockerfile');
  });
});

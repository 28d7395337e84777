import { mkdtemp, mkdir, readFile, rm, stat, symlink, utimes, writeFile, lstat, readlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { applyChmod, parseChmod } from '../../src/build/copy/chmod.js';
import { match } from '../../src/build/context/match.js';
import { goDuration, goQuoteList, parseGoDuration } from '../../src/build/go-format.js';
import { applyMetadata, normalizeWorkdir, parsePorts, runCreatedBy, type StageImageState } from '../../src/build/config.js';
import { ChecksumCache } from '../../src/build/context/checksum-cache.js';
import { executeCopy, planCopy, resolveDest } from '../../src/build/copy/copy.js';
import { resolveInRoot } from '../../src/build/context/scoped-path.js';
import { resolveChown } from '../../src/build/copy/owner.js';
import type { Step } from '../../src/plan/build-graph.js';

const dirs: string[] = [];
async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'tsbuild-units-'));
  dirs.push(d);
  return d;
}
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('Go filepath.Match', () => {
  it('matches like Go', () => {
    expect(match('*.txt', 'a.txt')).toBe(true);
    expect(match('*.txt', 'dir/a.txt')).toBe(false);
    expect(match('file-?.txt', 'file-1.txt')).toBe(true);
    expect(match('[a-c]*', 'banana')).toBe(true);
    expect(match('[^a-c]*', 'banana')).toBe(false);
    expect(match('\\*', '*')).toBe(true);
    expect(match('**', 'ab')).toBe(true);
    expect(() => match('[a-', 'a')).toThrow();
  });
});

describe('chmod', () => {
  it('parses octal and symbolic', () => {
    expect(applyChmod(parseChmod('0755'), 0o644, false)).toBe(0o755);
    expect(applyChmod(parseChmod('u+x'), 0o644, false)).toBe(0o744);
    expect(applyChmod(parseChmod('go=rX'), 0o700, true)).toBe(0o755);
    expect(applyChmod(parseChmod('go=rX'), 0o600, false)).toBe(0o644);
    expect(applyChmod(parseChmod('a-w,u+s'), 0o755, false)).toBe(0o4555);
    expect(() => parseChmod('08')).toThrow(/octal/);
    expect(() => parseChmod('z+q')).toThrow();
  });
});

describe('Go formatting for history', () => {
  it('quotes and durations', () => {
    expect(goQuoteList(['sh', '-c', 'echo "hi"\n'])).toBe('["sh" "-c" "echo \\"hi\\"\\n"]');
    expect(goDuration(30e9)).toBe('30s');
    expect(goDuration(90e9)).toBe('1m30s');
    expect(goDuration(3600e9)).toBe('1h0m0s');
    expect(goDuration(5e8)).toBe('500ms');
    expect(goDuration(0)).toBe('0s');
    expect(parseGoDuration('1m30s')).toBe(90e9);
  });
});

function step<K extends Step['kind']>(kind: K, fields: Record<string, unknown>): Step {
  return { kind, index: 0, instruction: {} as never, location: {} as never, buildArgs: {}, env: {}, referenced: { matched: [], unmatched: [] }, ...fields } as unknown as Step;
}

describe('config semantics', () => {
  it('applies metadata with docker history strings', () => {
    const s: StageImageState = { config: { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config: { Cmd: ['sh'] } }, cmdSet: false };
    applyMetadata(s, step('ENV', { pairs: [{ key: 'A', value: 'b c' }] }), undefined);
    applyMetadata(s, step('EXPOSE', { ports: ['80', '53/udp'] }), undefined);
    applyMetadata(s, step('ENTRYPOINT', { command: { form: 'exec', args: ['/bin/app'] } }), undefined);
    applyMetadata(s, step('WORKDIR', { path: '/app' }), undefined);
    applyMetadata(s, step('WORKDIR', { path: 'sub/../x' }), undefined);
    applyMetadata(s, step('LABEL', { pairs: [{ key: 'k', value: 'v' }] }), undefined);
    applyMetadata(s, step('HEALTHCHECK', { test: { type: 'CMD', command: { form: 'shell', command: 'true' } }, interval: 30e9, retries: 3 }), undefined);
    applyMetadata(s, step('ONBUILD', { trigger: 'RUN echo hi' }), undefined);
    const c = s.config.config!;
    expect(c.Env).toEqual(['A=b c']);
    expect(c.ExposedPorts).toEqual({ '80/tcp': {}, '53/udp': {} });
    expect(c.Entrypoint).toEqual(['/bin/app']);
    expect(c.Cmd).toBeNull();
    expect(c.WorkingDir).toBe('/app/x');
    expect(c.Healthcheck).toEqual({ Test: ['CMD-SHELL', 'true'], Interval: 30e9, Retries: 3 });
    expect(c.OnBuild).toEqual(['RUN echo hi']);
    expect(s.config.history!.map((h) => h.created_by)).toEqual([
      'ENV A=b c',
      'EXPOSE [80/tcp 53/udp]',
      'ENTRYPOINT ["/bin/app"]',
      'WORKDIR /app',
      'WORKDIR /app/x',
      'LABEL k=v',
      'HEALTHCHECK {Test:[CMD-SHELL true] Interval:30s Timeout:0s StartPeriod:0s StartInterval:0s Retries:3}',
    ]);
    expect(s.config.history!.every((h) => h.comment === 'buildkit.dockerfile.v0')).toBe(true);
    expect(s.config.history![0]!.empty_layer).toBe(true);
  });
  it('CMD before ENTRYPOINT in the same stage survives', () => {
    const s: StageImageState = { config: { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }, cmdSet: false };
    applyMetadata(s, step('CMD', { command: { form: 'shell', command: 'echo hi' } }), undefined);
    applyMetadata(s, step('ENTRYPOINT', { command: { form: 'exec', args: ['x'] } }), undefined);
    expect(s.config.config!.Cmd).toEqual(['/bin/sh', '-c', 'echo hi']);
    expect(s.config.history![0]!.created_by).toBe('CMD ["/bin/sh" "-c" "echo hi"]');
  });
  it('ports, workdir, run history', () => {
    expect(parsePorts(['8000-8001/UDP'])).toEqual(['8000/udp', '8001/udp']);
    expect(() => parsePorts(['x'])).toThrow();
    expect(normalizeWorkdir('/a', '../b/')).toBe('/b');
    expect(runCreatedBy(['/bin/sh', '-c', 'make'], { V: '1' }, ['V'])).toBe('RUN |1 V=1 /bin/sh -c make');
  });
});

describe('build context checksums', () => {
  it('hashes a file once while its inode, size and times are unchanged', async () => {
    const d = await tmp();
    const f = join(d, 'a');
    await writeFile(f, 'hello');
    const cache = await ChecksumCache.open(d, d);
    const st = await stat(f, { bigint: true });
    const a = await cache.checksum(f, st);
    expect(await cache.checksum(f, await stat(f, { bigint: true }))).toBe(a);
    expect(cache.hashed).toBe(1);
    await cache.save();
    const again = await ChecksumCache.open(d, d);
    expect(await again.checksum(f, await stat(f, { bigint: true }))).toBe(a);
    expect(again.hashed).toBe(0);
    await writeFile(f, 'world');
    expect(await again.checksum(f, await stat(f, { bigint: true }))).not.toBe(a);
    expect(again.hashed).toBe(1);
  });

  it('reads a file once when several ask for it at the same time', async () => {
    const d = await tmp();
    const f = join(d, 'big');
    await writeFile(f, Buffer.alloc(3 << 20, 7));
    const cache = await ChecksumCache.open(d, d);
    const st = await stat(f, { bigint: true });
    const sums = await Promise.all([cache.checksum(f, st), cache.checksum(f, st), cache.checksum(f, st)]);
    expect(new Set(sums).size).toBe(1);
    expect(cache.hashed).toBe(1);
  });
});

describe('COPY semantics on a plain root', () => {
  it('dest rules', () => {
    expect(resolveDest('.', '/app')).toBe('/app/');
    expect(resolveDest('x', '/app')).toBe('/app/x');
    expect(resolveDest('x/', '/app')).toBe('/app/x/');
    expect(resolveDest('/abs', '/app')).toBe('/abs');
  });

  it('copies files, dirs and wildcards with modes, owners and checksums that ignore mtime', async () => {
    const ctx = await tmp();
    const root = await tmp();
    await mkdir(join(ctx, 'files/sub'), { recursive: true });
    await writeFile(join(ctx, 'files/a.txt'), 'A');
    await writeFile(join(ctx, 'files/sub/b.txt'), 'B', { mode: 0o600 });
    await writeFile(join(ctx, 'run.sh'), '#!/bin/sh\n', { mode: 0o755 });
    await writeFile(join(ctx, 'x.tmp'), 'ignored');
    await symlink('a.txt', join(ctx, 'files/link'));
    await mkdir(join(root, 'etc'));
    await writeFile(join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\nwww-data:x:33:33::/var/www:/bin/false\n');
    await writeFile(join(root, 'etc/group'), 'root:x:0:\nusers:x:100:\n');
    // An absolute symlink in the image must resolve inside the root, never on the host.
    await symlink('/srv', join(root, 'app'));
    const tree = { root: ctx, owners: 'root' as const, checksums: ChecksumCache.memory(), ignore: { ignores: (p: string) => p.endsWith('.tmp') } };

    const p1 = await planCopy({ sources: [{ type: 'tree', tree, src: 'files/' }], dest: '/app/files/', workdir: '/' });
    await executeCopy(p1, root);
    expect(await readFile(join(root, 'srv/files/a.txt'), 'utf8')).toBe('A');
    expect((await stat(join(root, 'srv/files/sub/b.txt'))).mode & 0o777).toBe(0o600);
    expect(await readlink(join(root, 'srv/files/link'))).toBe('a.txt');

    const p2 = await planCopy({ sources: [{ type: 'tree', tree, src: '*.sh' }, { type: 'tree', tree, src: '*.tmp' }], dest: 'bin/', workdir: '/usr/local', chown: await resolveChown(root, 'www-data:users'), chmod: parseChmod('u=rwx,go=rx') });
    await executeCopy(p2, root);
    const st = await lstat(join(root, 'usr/local/bin/run.sh'));
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([33, 100, 0o755]);
    await expect(lstat(join(root, 'usr/local/bin/x.tmp'))).rejects.toThrow();

    const p3 = await planCopy({ sources: [{ type: 'tree', tree, src: 'run.sh' }], dest: '/renamed', workdir: '/' });
    await executeCopy(p3, root);
    expect((await stat(join(root, 'renamed'))).isFile()).toBe(true);

    // Touching a file keeps the checksum; changing content changes it.
    await utimes(join(ctx, 'files/a.txt'), new Date(1000), new Date(1000));
    const again = await planCopy({ sources: [{ type: 'tree', tree, src: 'files/' }], dest: '/app/files/', workdir: '/' });
    expect(again.checksum).toBe(p1.checksum);
    await writeFile(join(ctx, 'files/a.txt'), 'changed');
    const changed = await planCopy({ sources: [{ type: 'tree', tree, src: 'files/' }], dest: '/app/files/', workdir: '/' });
    expect(changed.checksum).not.toBe(p1.checksum);

    await expect(planCopy({ sources: [{ type: 'tree', tree, src: 'missing' }], dest: '/x', workdir: '/' })).rejects.toThrow(/not found/);
    await expect(planCopy({ sources: [{ type: 'tree', tree, src: 'x.tmp' }], dest: '/x', workdir: '/' })).rejects.toThrow(/not found/);
    await expect(planCopy({ sources: [{ type: 'tree', tree, src: 'run.sh' }, { type: 'tree', tree, src: 'files' }], dest: '/x', workdir: '/' })).rejects.toThrow(/must be a directory/);
    expect((await resolveInRoot(root, '/app/../app/files')).path).toBe('/srv/files');
  });

  it('ADD extracts a local tar.gz', async () => {
    const ctx = await tmp();
    const root = await tmp();
    await mkdir(join(ctx, 'src/d'), { recursive: true });
    await writeFile(join(ctx, 'src/d/f'), 'in tar');
    const { execFileSync } = await import('node:child_process');
    execFileSync('tar', ['-czf', join(ctx, 'a.tar.gz'), '-C', join(ctx, 'src'), '--owner=5', '--group=6', 'd']);
    const tree = { root: ctx, owners: 'root' as const };
    const p = await planCopy({ sources: [{ type: 'tree', tree, src: 'a.tar.gz' }], dest: '/opt/', workdir: '/', unpack: true });
    await executeCopy(p, root);
    const st = await lstat(join(root, 'opt/d/f'));
    expect(await readFile(join(root, 'opt/d/f'), 'utf8')).toBe('in tar');
    expect([st.uid, st.gid]).toEqual([5, 6]);
  });
});

describe('progress renderers', () => {
  it('plain: BuildKit blocks with output, DONE, CACHED, ERROR and a total', async () => {
    const { PlainRenderer, Progress, TtyRenderer } = await import('../../src/build/progress/index.js');
    let out = '';
    const sink = { write: (s: string) => ((out += s), true) } as unknown as import('node:stream').Writable;
    const p = new Progress(new PlainRenderer(sink));
    p.vertex('[1/3] FROM busybox').cached();
    const v = p.vertex('[2/3] RUN echo hi').start();
    v.log('stdout', 'hi\npart');
    v.log('stdout', 'ial\n');
    v.done();
    p.vertex('[3/3] RUN false').start().error('exit code: 1');
    p.finish(false);
    expect(out).toMatch(/#1 \[1\/3\] FROM busybox\n#1 CACHED\n/);
    expect(out).toMatch(/#2 \[2\/3\] RUN echo hi\n#2 \d+\.\d hi\n#2 \d+\.\d partial\n#2 DONE \d+\.\ds\n/);
    expect(out).toMatch(/#3 ERROR: exit code: 1\n/);
    expect(out).toMatch(/FAILED \d+\.\ds \(3 steps\)\n$/);
    let tty = '';
    const t = new TtyRenderer({ write: (s: string) => ((tty += s), true), columns: 80 } as never);
    const q = new Progress(t);
    q.vertex('[1/1] RUN x').start().done();
    q.finish(true);
    expect(tty).toMatch(/\[\+\] Building \d+\.\ds \(1\/1\) FINISHED/);
    expect(tty).toMatch(/=> \[1\/1\] RUN x\s+\d+\.\ds/);
  });
});

import { createHash } from 'node:crypto';
import { chmod, link, lstat, mkdir, readFile, readlink, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyLayer, LayerPathError, writeLayer } from '../../src/image/layer/index.js';
import { collect, sh, tempDir } from './helpers.js';

let base: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ dir: base, cleanup } = await tempDir());
});
afterAll(async () => cleanup());

async function makeTree(root: string): Promise<void> {
  await mkdir(join(root, 'etc/deep'), { recursive: true });
  await writeFile(join(root, 'etc/hosts'), '127.0.0.1 localhost\n');
  await writeFile(join(root, 'big.bin'), Buffer.alloc(300_000, 7));
  await writeFile(join(root, 'empty'), '');
  await chmod(join(root, 'etc/hosts'), 0o640);
  await symlink('../big.bin', join(root, 'etc/link'));
  await link(join(root, 'big.bin'), join(root, 'etc/hard.bin'));
  const long = `${'d'.repeat(120)}/${'e'.repeat(120)}`;
  await mkdir(join(root, long), { recursive: true });
  await writeFile(join(root, long, `${'f'.repeat(150)}.txt`), 'long name');
  await writeFile(join(root, 'ünïcode.txt'), 'utf8');
  sh('mkfifo', [join(root, 'fifo')]);
  sh('mknod', [join(root, 'null'), 'c', '1', '3']);
  for (const p of ['etc/hosts', 'big.bin', 'empty', 'etc', '.']) await utimes(join(root, p), 1_700_000_000, 1_700_000_000);
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('writeLayer / applyLayer', () => {
  it('round-trips a tree: files, modes, symlinks, hardlinks, long and unicode names, devices', async () => {
    const src = join(base, 'rt-src');
    await mkdir(src);
    await makeTree(src);
    const bytes = await collect(writeLayer(src));
    // GNU tar agrees it is a valid archive with the expected entries
    const listing = sh('tar', ['-tvf', '-'], { input: bytes });
    expect(listing.code, listing.stderr).toBe(0);
    expect(listing.stdout).toContain('etc/hard.bin link to big.bin');
    expect(listing.stdout).toContain('ünïcode.txt');
    const dst = join(base, 'rt-dst');
    const stats = await applyLayer(Readable.from([bytes]), dst);
    expect(stats.hardlinks).toBe(1);
    expect(await readFile(join(dst, 'etc/hosts'), 'utf8')).toBe('127.0.0.1 localhost\n');
    expect((await stat(join(dst, 'etc/hosts'))).mode & 0o777).toBe(0o640);
    expect((await stat(join(dst, 'etc/hosts'))).mtimeMs).toBe(1_700_000_000_000);
    expect((await stat(join(dst, 'etc'))).mtimeMs).toBe(1_700_000_000_000);
    expect(await readlink(join(dst, 'etc/link'))).toBe('../big.bin');
    expect((await stat(join(dst, 'etc/hard.bin'))).ino).toBe((await stat(join(dst, 'big.bin'))).ino);
    expect(sha(await readFile(join(dst, 'big.bin')))).toBe(sha(Buffer.alloc(300_000, 7)));
    const long = `${'d'.repeat(120)}/${'e'.repeat(120)}/${'f'.repeat(150)}.txt`;
    expect(await readFile(join(dst, long), 'utf8')).toBe('long name');
    expect(await readFile(join(dst, 'ünïcode.txt'), 'utf8')).toBe('utf8');
    expect((await lstat(join(dst, 'fifo'))).isFIFO()).toBe(true);
    const dev = await lstat(join(dst, 'null'));
    expect(dev.isCharacterDevice()).toBe(true);
    expect(dev.rdev).toBe((await lstat('/dev/null')).rdev);
  });

  it('coalesces many small files into few large chunks, around a streamed large file, with exact content', async () => {
    const src = join(base, 'many-src');
    await mkdir(join(src, 'd'), { recursive: true });
    const small = (i: number) => Buffer.alloc(100 + ((i * 37) % 900), i % 251);
    for (let i = 0; i < 300; i++) await writeFile(join(src, 'd', `f${String(i).padStart(3, '0')}`), small(i));
    await writeFile(join(src, 'e-large.bin'), Buffer.alloc(3 << 20, 9));
    const chunks: Buffer[] = [];
    for await (const c of writeLayer(src)) chunks.push(c as Buffer);
    // 300 files = 900 tar pieces (header, content, padding): batched, they are a handful of writes.
    expect(chunks.length).toBeLessThan(12);
    const dst = join(base, 'many-dst');
    await applyLayer(Readable.from([Buffer.concat(chunks)]), dst);
    for (let i = 0; i < 300; i += 37) expect(await readFile(join(dst, 'd', `f${String(i).padStart(3, '0')}`))).toEqual(small(i));
    expect(sha(await readFile(join(dst, 'e-large.bin')))).toBe(sha(Buffer.alloc(3 << 20, 9)));
  });

  it('is deterministic and clamps mtimes to SOURCE_DATE_EPOCH', async () => {
    const a = join(base, 'det-a');
    const b = join(base, 'det-b');
    for (const d of [a, b]) {
      await mkdir(join(d, 'x/y'), { recursive: true });
      await writeFile(join(d, 'x/y/z'), 'same');
      await writeFile(join(d, 'x/a'), 'same2');
    }
    await utimes(join(b, 'x/a'), 1_800_000_000, 1_800_000_000); // differs, but both are after the epoch
    const epoch = 1_000_000;
    const la = await collect(writeLayer(a, { sourceDateEpoch: epoch }));
    const lb = await collect(writeLayer(b, { sourceDateEpoch: epoch }));
    expect(sha(la)).toBe(sha(lb));
    const unclamped = await collect(writeLayer(b));
    expect(sha(unclamped)).not.toBe(sha(la));
    // entries sorted, no ./ prefix, numeric owners, no names
    const ex = tar.extract();
    const names: string[] = [];
    const done = new Promise<void>((res) => {
      ex.on('entry', (h, s, next) => {
        names.push(h.name);
        expect(h.uname).toBe('');
        expect(h.mtime.getTime()).toBe(epoch * 1000);
        s.on('end', next);
        s.resume();
      });
      ex.on('finish', res);
    });
    Readable.from([la]).pipe(ex as unknown as NodeJS.WritableStream);
    await done;
    expect(names).toEqual(['x/', 'x/a', 'x/y/', 'x/y/z']);
  });

  it('honours whiteouts and opaque directories', async () => {
    const dst = join(base, 'wh');
    await mkdir(join(dst, 'gone/sub'), { recursive: true });
    await mkdir(join(dst, 'opq'), { recursive: true });
    await writeFile(join(dst, 'gone/sub/f'), 'x');
    await writeFile(join(dst, 'file'), 'x');
    await writeFile(join(dst, 'opq/old'), 'x');
    await writeFile(join(dst, 'keep'), 'x');
    const pack = tar.pack();
    pack.entry({ name: '.wh.gone' }, '');
    pack.entry({ name: '.wh.file' }, '');
    pack.entry({ name: 'opq/', type: 'directory' }, '');
    pack.entry({ name: 'opq/new' }, 'n');
    pack.entry({ name: 'opq/.wh..wh..opq' }, '');
    pack.finalize();
    const stats = await applyLayer(Readable.from(await collect(pack as unknown as AsyncIterable<Uint8Array>)), dst);
    expect(stats.whiteouts).toBe(3);
    await expect(lstat(join(dst, 'gone'))).rejects.toThrow();
    await expect(lstat(join(dst, 'file'))).rejects.toThrow();
    await expect(lstat(join(dst, 'opq/old'))).rejects.toThrow();
    expect(await readFile(join(dst, 'opq/new'), 'utf8')).toBe('n');
    expect(await readFile(join(dst, 'keep'), 'utf8')).toBe('x');
  });

  async function tarOf(entries: [tar.Header | { name: string; type?: 'symlink' | 'file' | 'directory'; linkname?: string; size?: number }, string?][]): Promise<Buffer> {
    const pack = tar.pack();
    for (const [h, body] of entries) pack.entry(h as tar.Header, body ?? '');
    pack.finalize();
    return collect(pack as unknown as AsyncIterable<Uint8Array>);
  }

  it('refuses ../ entries without writing outside the target', async () => {
    const dst = join(base, 'dotdot/target');
    await mkdir(dst, { recursive: true });
    const bytes = await tarOf([[{ name: 'ok', size: 2 }, 'ok'], [{ name: '../escaped', size: 3 }, 'bad']]);
    await expect(applyLayer(Readable.from([bytes]), dst)).rejects.toBeInstanceOf(LayerPathError);
    await expect(lstat(join(base, 'dotdot/escaped'))).rejects.toThrow();
  });

  it('refuses a path through a symlink that escapes, and keeps absolute symlinks inside the root', async () => {
    const dst = join(base, 'esc/target');
    await mkdir(dst, { recursive: true });
    const bytes = await tarOf([[{ name: 'up', type: 'symlink', linkname: '../..' }], [{ name: 'up/pwned', size: 3 }, 'bad']]);
    await expect(applyLayer(Readable.from([bytes]), dst)).rejects.toBeInstanceOf(LayerPathError);
    await expect(lstat(join(base, 'pwned'))).rejects.toThrow();
    await expect(lstat(join(base, 'esc/pwned'))).rejects.toThrow();

    const outside = join(base, 'esc/outside');
    await mkdir(outside);
    const dst2 = join(base, 'esc/target2');
    const abs = await tarOf([[{ name: 'abs', type: 'symlink', linkname: outside }], [{ name: 'abs/file', size: 2 }, 'in']]);
    await applyLayer(Readable.from([abs]), dst2);
    await expect(lstat(join(outside, 'file'))).rejects.toThrow();
    expect(await readFile(join(dst2, outside, 'file'), 'utf8')).toBe('in');
  });

  it('applies gzip-compressed layers (detected)', async () => {
    const src = join(base, 'gz-src');
    await mkdir(src);
    await writeFile(join(src, 'a'), 'gzipped');
    const plain = await collect(writeLayer(src));
    const { gzipSync } = await import('node:zlib');
    const dst = join(base, 'gz-dst');
    await applyLayer(Readable.from([gzipSync(plain)]), dst);
    expect(await readFile(join(dst, 'a'), 'utf8')).toBe('gzipped');
  });
});

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { isNotFound, type StorageDriver } from '../../registry-server/storage/driver.js';
import { FilesystemDriver } from '../../registry-server/storage/fs-driver.js';
import { MemoryDriver } from '../../registry-server/storage/memory-driver.js';
import { tempDir } from './helpers.js';

const dirs: Awaited<ReturnType<typeof tempDir>>[] = [];
afterAll(async () => {
  for (const d of dirs) await d.cleanup();
});

async function readAll(r: Readable): Promise<string> {
  let s = '';
  for await (const c of r) s += String(c);
  return s;
}

describe.each([
  ['filesystem', async (): Promise<StorageDriver> => {
    const d = await tempDir();
    dirs.push(d);
    return new FilesystemDriver(d.path);
  }],
  ['memory', async (): Promise<StorageDriver> => new MemoryDriver()],
])('%s storage driver', (_n, make) => {
  it('puts, gets, stats, lists, moves and deletes', async () => {
    const s = await make();
    await s.putContent('/a/b/c', Buffer.from('hello'));
    expect(String(await s.getContent('/a/b/c'))).toBe('hello');
    expect((await s.stat('/a/b/c')).size).toBe(5);
    expect((await s.stat('/a/b')).isDir).toBe(true);
    expect(await s.list('/a')).toEqual(['b']);
    expect(await s.list('/nope')).toEqual([]);
    await s.move('/a/b/c', '/x/y');
    await expect(s.getContent('/a/b/c')).rejects.toSatisfy(isNotFound);
    expect(String(await s.getContent('/x/y'))).toBe('hello');
    expect(await readAll(await s.reader('/x/y', { start: 1, end: 3 }))).toBe('ell');
    await s.delete('/x');
    await expect(s.stat('/x/y')).rejects.toSatisfy(isNotFound);
    await expect(s.reader('/x/y')).rejects.toSatisfy(isNotFound);
    await s.delete('/never/was');
  });

  it('appends with writers, and cancel leaves the file as it was', async () => {
    const s = await make();
    const w1 = await s.writer('/u/data');
    expect(w1.startSize).toBe(0);
    await pipeline(Readable.from([Buffer.from('abc')]), w1.stream);
    await w1.commit({ sync: true });
    const w2 = await s.writer('/u/data');
    expect(w2.startSize).toBe(3);
    await pipeline(Readable.from([Buffer.from('def')]), w2.stream);
    await w2.commit();
    expect(String(await s.getContent('/u/data'))).toBe('abcdef');
    const w3 = await s.writer('/u/data');
    await pipeline(Readable.from([Buffer.from('zzz')]), w3.stream);
    await w3.cancel();
    expect(String(await s.getContent('/u/data'))).toBe('abcdef');
  });

  it('refuses paths that could escape the root', async () => {
    const s = await make();
    for (const p of ['relative', '/a/../b', '/a//b', '/a/./b', '/a/b\0']) {
      await expect(s.putContent(p, Buffer.from('x')), p).rejects.toThrow(/invalid storage path/);
    }
  });
});

describe('filesystem driver atomicity', () => {
  it('leaves no temp files behind and lists none in progress', async () => {
    const d = await tempDir();
    dirs.push(d);
    const s = new FilesystemDriver(d.path);
    await Promise.all(Array.from({ length: 20 }, (_, i) => s.putContent('/tag/link', Buffer.from(`v${i}`.padEnd(64, '.')))));
    expect(await s.list('/tag')).toEqual(['link']);
    expect((await readFile(join(d.path, 'tag', 'link'), 'utf8')).length).toBe(64);
    const { readdir } = await import('node:fs/promises');
    expect(await readdir(join(d.path, 'tag'))).toEqual(['link']);
  });
});

describe('filesystem driver writeback', () => {
  // Writers past 32 MiB start background fdatasyncs; bytes must come out whole and in order,
  // and a cancel racing a writeback must still truncate to where the writer started.
  it('keeps large appends intact and cancels cleanly while a writeback runs', async () => {
    const d = await tempDir();
    dirs.push(d);
    const s = new FilesystemDriver(d.path);
    const piece = (n: number) => Buffer.alloc(1 << 20, n % 251);
    const pieces = (from: number, count: number) => Array.from({ length: count }, (_, i) => piece(from + i));
    const [kept, dropped] = await Promise.all([s.writer('/big/kept'), s.writer('/big/dropped')]);
    await Promise.all([
      pipeline(Readable.from(pieces(0, 80)), kept.stream),
      pipeline(Readable.from(pieces(100, 70)), dropped.stream),
    ]);
    await Promise.all([kept.commit({ sync: true }), dropped.cancel()]);
    const data = await readFile(join(d.path, 'big', 'kept'));
    expect(data.length).toBe(80 << 20);
    for (let i = 0; i < 80; i++) expect(data[i << 20], `MiB ${i}`).toBe(i % 251);
    expect((await s.stat('/big/dropped')).size).toBe(0);
  });
});

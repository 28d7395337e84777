// The fast paths of blob transfer: the store's write (hash once, batched writes, early writeback,
// one fsync), downloads fed to it chunk by chunk, and pushes of local blobs that leave hashing to
// the registry but still name a corrupt local blob as the culprit.
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import { cpSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry } from '../../registry-server/server.js';
import { type Digest, digestOf } from '../../src/image/digest.js';
import { parseReference } from '../../src/image/reference.js';
import { RegistryClient } from '../../src/registry/client.js';
import { copyImage, parseLocation } from '../../src/registry/copy.js';
import { fileChunks, fileRanges } from '../../src/registry/file-chunks.js';
import { pull } from '../../src/registry/pull.js';
import { FsBlobStore } from '../../src/store/fs-blob-store.js';
import { openStore } from '../../src/store/store.js';
import { addLayers, makeBusybox, type RunningRegistry, startDistribution, tempDir } from './helpers.js';

let work: string;
beforeAll(() => {
  work = tempDir('throughput');
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** `total` bytes of a repeating random pattern (one byte varied per chunk), in `chunk`-sized pieces. */
function* pattern(total: number, chunk: number, seed: number): Generator<Buffer> {
  const base = randomBytes(chunk);
  for (let off = 0, i = 0; off < total; off += chunk, i++) {
    const b = Buffer.from(base.subarray(0, Math.min(chunk, total - off)));
    b[0] = (seed + i) & 0xff;
    yield b;
  }
}

function digestOfChunks(chunks: Buffer[]): Digest {
  return digestOf(Buffer.concat(chunks));
}

function leftovers(dir: string): string[] {
  return readdirSync(dir).filter((n) => n.startsWith('.tmp-'));
}

describe('store write path (what a pull streams into)', () => {
  it('commits several big blobs written at once (batched writes, early writeback), each exactly', async () => {
    const blobs = new FsBlobStore(join(work, 'big'));
    // 4 x 40 MiB: past the writeback interval, concurrently, as a 4-layer pull does.
    const inputs = [1, 2, 3, 4].map((seed) => [...pattern(40 << 20, 64 << 10, seed)]);
    const infos = await Promise.all(inputs.map((chunks) => blobs.write(Readable.from(chunks), { digest: digestOfChunks(chunks), size: 40 << 20 })));
    for (const [i, info] of infos.entries()) {
      expect(info).toEqual({ digest: digestOfChunks(inputs[i]!), size: 40 << 20 });
      expect(digestOf(readFileSync(blobs.path(info.digest)))).toBe(info.digest);
    }
    expect(leftovers(join(work, 'big', 'sha256'))).toEqual([]);
  });

  it('recycles each chunk once, in order, only when hashing and writing are done with it', async () => {
    const blobs = new FsBlobStore(join(work, 'recycle'));
    // A producer that refills a recycled buffer at once, as the download slabs are: a chunk handed
    // back too early would be overwritten before it was hashed or written, and the digest would differ.
    const free: Buffer[] = [];
    const given: Buffer[] = [];
    const recycled: Uint8Array[] = [];
    const hash = createHash('sha256');
    async function* produce() {
      for (let i = 0; i < 96; i++) {
        const b = free.pop() ?? Buffer.allocUnsafe(512 << 10);
        randomFillSync(b);
        hash.update(b);
        given.push(b);
        yield b;
      }
    }
    const content = produce();
    const info = await blobs.write(content, { size: 96 * (512 << 10) }, {
      recycle: (c) => {
        recycled.push(c);
        free.push(c as Buffer);
      },
    });
    expect(info.digest).toBe(`sha256:${hash.digest('hex')}`);
    expect(digestOf(readFileSync(blobs.path(info.digest)))).toBe(info.digest);
    expect(recycled).toHaveLength(given.length);
    recycled.forEach((c, i) => expect(c).toBe(given[i]));
    expect(new Set(given).size).toBeLessThan(given.length); // buffers were in fact reused
  });

  it('takes plain async iterables and strings, and refuses wrong content without leaving a file', async () => {
    const blobs = new FsBlobStore(join(work, 'iter'));
    async function* gen() {
      yield 'hello ';
      yield Buffer.from('world');
    }
    const ok = await blobs.write(gen() as AsyncIterable<Uint8Array>, { digest: digestOf('hello world'), size: 11 });
    expect(ok).toEqual({ digest: digestOf('hello world'), size: 11 });
    const chunks = [...pattern(3 << 20, 1 << 20, 7)];
    const wrong = blobs.write(Readable.from(chunks), { digest: digestOf('something else') });
    await expect(wrong).rejects.toThrow(/does not match sha256:/);
    await expect(blobs.write(Readable.from(chunks), { size: 2 << 20 })).rejects.toThrow(/expected 2097152/);
    await expect(blobs.write(Readable.from(chunks), { size: 4 << 20 })).rejects.toThrow(/has 3145728 bytes, expected 4194304/);
    expect(leftovers(join(work, 'iter', 'sha256'))).toEqual([]);
    expect(await blobs.has(digestOfChunks(chunks))).toBe(false);
  });

  it('stops on abort, destroys the source and leaves nothing', async () => {
    const blobs = new FsBlobStore(join(work, 'abort'));
    const ac = new AbortController();
    let produced = 0;
    const source = new Readable({
      read() {
        produced++;
        if (produced === 20) ac.abort();
        this.push(Buffer.alloc(1 << 20, produced));
      },
    });
    await expect(blobs.write(source, {}, { signal: ac.signal })).rejects.toThrow(/abort/i);
    expect(source.destroyed).toBe(true);
    expect(leftovers(join(work, 'abort', 'sha256'))).toEqual([]);
  });

  it('surfaces a source error and leaves nothing', async () => {
    const blobs = new FsBlobStore(join(work, 'err'));
    async function* failing() {
      yield Buffer.alloc(5 << 20, 1);
      throw new Error('network went away');
    }
    await expect(blobs.write(failing())).rejects.toThrow('network went away');
    expect(leftovers(join(work, 'err', 'sha256'))).toEqual([]);
  });
});

describe('fileChunks (upload bodies read into a reused ring of buffers)', () => {
  it('yields exactly the file or the range, one chunk at a time, counting bytes', async () => {
    const file = join(work, 'chunks.bin');
    const data = randomBytes(5 * 65536 + 123);
    writeFileSync(file, data);
    const collect = async (it: AsyncIterable<Uint8Array>) => {
      const parts: Buffer[] = [];
      // Copy each chunk before asking for the next: the ring's buffers are reused.
      for await (const c of it) parts.push(Buffer.from(c));
      return Buffer.concat(parts);
    };
    let counted = 0;
    expect((await collect(fileChunks(file, undefined, { chunkSize: 65536, ring: 2, onBytes: (n) => (counted += n) }))).equals(data)).toBe(true);
    expect(counted).toBe(data.length);
    expect((await collect(fileChunks(file, { start: 70_000, end: 200_000 }, { chunkSize: 65536 }))).equals(data.subarray(70_000, 200_001))).toBe(true);
    expect((await collect(fileChunks(file, { start: 0, end: 0 }))).equals(data.subarray(0, 1))).toBe(true);
    // Buffers really are reused (that is the point): a ring of 2 hands out at most 2 distinct ones.
    const seen = new Set<ArrayBufferLike>();
    for await (const c of fileChunks(file, undefined, { chunkSize: 65536, ring: 2 })) seen.add(c.buffer);
    expect(seen.size).toBeLessThanOrEqual(2);
  });

  it('fileRanges: successive ranges share one ring; a range read while another is going gets its own', async () => {
    const file = join(work, 'ranges.bin');
    const data = randomBytes(4 * 65536);
    writeFileSync(file, data);
    const open = fileRanges(file, data.length, { chunkSize: 65536, ring: 2 });
    const buffersOf = async (range: { start: number; end: number }) => {
      const seen = new Set<ArrayBufferLike>();
      const parts: Buffer[] = [];
      for await (const c of open(range)) {
        seen.add(c.buffer);
        parts.push(Buffer.from(c));
      }
      expect(Buffer.concat(parts).equals(data.subarray(range.start, range.end + 1))).toBe(true);
      return seen;
    };
    const first = await buffersOf({ start: 0, end: 131_071 });
    const second = await buffersOf({ start: 131_072, end: data.length - 1 });
    expect([...second].every((b) => first.has(b))).toBe(true);
    // An abandoned read still holds the ring: the next one must not write into its buffers.
    const abandoned = open({ start: 0, end: data.length - 1 })[Symbol.asyncIterator]();
    const held = (await abandoned.next()).value as Uint8Array;
    const copy = Buffer.from(held);
    const third = await buffersOf({ start: 0, end: data.length - 1 });
    expect([...third].some((b) => first.has(b))).toBe(false);
    expect(Buffer.from(held).equals(copy)).toBe(true);
    await abandoned.return?.(undefined);
    const fourth = await buffersOf({ start: 0, end: 65_535 });
    expect([...fourth].every((b) => first.has(b))).toBe(true);
  });
});

const servers: [string, () => Promise<Pick<RunningRegistry, 'host' | 'close'>>][] = [
  ['Debian docker-registry', () => startDistribution()],
  ['our registry server', async () => startRegistry({ addr: '127.0.0.1:0', root: join(work, `ours-${Date.now()}`) })],
];

for (const [label, start] of servers) {
  describe(`pushing local blobs to ${label}`, () => {
    let reg: Pick<RunningRegistry, 'host' | 'close'>;
    let layout: string;
    let layers: string[];
    const client = new RegistryClient({ transportOptions: { backoffMs: 5, retries: 1 } });
    beforeAll(async () => {
      reg = await start();
      layout = join(work, `layout-${label.length}`);
      makeBusybox(layout);
      layers = (await addLayers(layout, 2, 2_000_000)).layers;
    });
    afterAll(async () => {
      await client.close();
      await reg?.close();
    });

    it('round-trips a layout through the registry and a pull with the same digests', async () => {
      const sent = await copyImage(client, parseLocation(`oci:${layout}:multi`), parseLocation(`${reg.host}/fast/img:1`));
      const store = await openStore(join(work, `store-${label.length}`));
      const pulled = await pull(client, store, parseReference(`${reg.host}/fast/img:1`));
      expect(pulled.manifest.digest).toBe(sent.digest);
      for (const l of layers) {
        const onDisk = readFileSync(join(layout, 'blobs', 'sha256', l.slice(7)));
        expect(digestOf(readFileSync(store.blobs.path(l as Digest)))).toBe(digestOf(onDisk));
      }
    });

    it('uploads in PATCH chunks read from file ranges when the blob is bigger than the chunk size', async () => {
      const chunky = new RegistryClient({ chunkSize: 700_000, transportOptions: { backoffMs: 5, retries: 1 } });
      try {
        const sent = await copyImage(chunky, parseLocation(`oci:${layout}:multi`), parseLocation(`${reg.host}/chunky/img:1`));
        const store = await openStore(join(work, `store-chunky-${label.length}`));
        const pulled = await pull(chunky, store, parseReference(`${reg.host}/chunky/img:1`));
        expect(pulled.manifest.digest).toBe(sent.digest);
        for (const l of layers) expect(await store.blobs.has(l as Digest)).toBe(true);
      } finally {
        await chunky.close();
      }
    });

    for (const damage of ['flipped byte', 'truncated'] as const) {
      it(`names a corrupt local blob (${damage}) and the registry keeps nothing of it`, async () => {
        const bad = join(work, `bad-${label.length}-${damage.length}`);
        cpSync(layout, bad, { recursive: true });
        const victim = layers[1]!;
        const file = join(bad, 'blobs', 'sha256', victim.slice(7));
        if (damage === 'truncated') truncateSync(file, 1000);
        else {
          const bytes = readFileSync(file);
          bytes[bytes.length >> 1] ^= 0xff;
          writeFileSync(file, bytes);
        }
        const repo = `bad/${damage === 'truncated' ? 'short' : 'flip'}`;
        const err = await copyImage(client, parseLocation(`oci:${bad}:multi`), parseLocation(`${reg.host}/${repo}:1`)).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(Error);
        // The local side is blamed, with the blob's name, not the registry.
        expect(String((err as Error).message)).toContain(`oci:${bad} blob ${victim}`);
        expect(await client.headBlob({ registry: reg.host, repository: repo }, victim as Digest)).toBeUndefined();
        expect(await client.headManifest({ registry: reg.host, repository: repo }, '1')).toBeUndefined();
      });
    }
  });
}

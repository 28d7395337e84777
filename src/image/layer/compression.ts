import { spawn } from 'node:child_process';
import { PassThrough, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { LayerCompression } from '../media-types.js';
import { findTool } from './tools.js';

/** The compression of a stream, told by its first bytes (gzip 1f 8b, zstd 28 b5 2f fd). */
export function sniffCompression(head: Buffer): LayerCompression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

/** Reads enough of `input` to tell its compression; returns a stream of the whole input, undecompressed. */
export async function peekCompression(input: Readable): Promise<{ compression: LayerCompression; stream: Readable }> {
  const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const head: Buffer[] = [];
  let have = 0;
  let done = false;
  while (have < 4) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    const chunk = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
    head.push(chunk);
    have += chunk.length;
  }
  const compression = sniffCompression(Buffer.concat(head));
  async function* rest(): AsyncGenerator<Buffer> {
    yield* head;
    if (done) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  }
  return { compression, stream: Readable.from(rest(), { objectMode: false }) };
}

/** The uncompressed tar of a layer blob, whatever its compression. */
export async function decompressed(input: Readable): Promise<Readable> {
  const { compression, stream } = await peekCompression(input);
  if (compression === 'none') return stream;
  if (compression === 'gzip') {
    const gunzip = createGunzip({ chunkSize: 1 << 20 });
    stream.on('error', (e) => gunzip.destroy(e));
    return stream.pipe(gunzip);
  }
  return zstdDecompress(stream);
}

/** Node 20 has no zstd; the zstd tool decompresses when installed. */
function zstdDecompress(stream: Readable): Readable {
  const tool = findTool('zstd');
  if (!tool) throw new Error('zstd-compressed layers need the zstd tool, which is not installed');
  const child = spawn(tool, ['-dc', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out = new PassThrough();
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  stream.on('error', (e) => {
    child.kill();
    out.destroy(e);
  });
  child.stdin.on('error', () => {});
  stream.pipe(child.stdin);
  child.stdout.pipe(out, { end: false });
  child.on('close', (code) => {
    if (code === 0) out.end();
    else out.destroy(new Error(`zstd failed: ${err.trim().split('\n')[0] ?? `exit ${code}`}`));
  });
  out.on('close', () => child.kill());
  return out;
}

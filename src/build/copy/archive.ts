import { spawn } from 'node:child_process';
import { open } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';

export type ArchiveKind = 'tar' | 'gzip' | 'bzip2' | 'xz' | 'zstd';

/**
 * What ADD would extract: a tar, plain or compressed, judged by its content as Docker does: the
 * compression by its magic bytes, then the (decompressed) first block must be a valid tar header,
 * so a gzipped text file is copied as it is rather than failing as a broken archive.
 */
export async function detectArchive(path: string): Promise<ArchiveKind | undefined> {
  const fh = await open(path, 'r');
  let kind: ArchiveKind;
  try {
    const buf = Buffer.alloc(512);
    const { bytesRead } = await fh.read(buf, 0, 512, 0);
    const b = buf.subarray(0, bytesRead);
    if (b[0] === 0x1f && b[1] === 0x8b) kind = 'gzip';
    else if (b.subarray(0, 3).toString('latin1') === 'BZh') kind = 'bzip2';
    else if (b.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) kind = 'xz';
    else if (b.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) kind = 'zstd';
    else return isTarHeader(b) ? 'tar' : undefined;
  } finally {
    await fh.close();
  }
  return isTarHeader(await readHead(openTarStream(path, kind), 512)) ? kind : undefined;
}

/** A tar header block: its checksum (the byte sum with the checksum field read as spaces) matches. */
export function isTarHeader(block: Buffer): boolean {
  if (block.length < 512 || block.subarray(0, 512).every((x) => x === 0)) return false;
  const field = block.subarray(148, 156).toString('latin1').replace(/[\0 ]+$/, '').trim();
  if (!/^[0-7]+$/.test(field)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum === parseInt(field, 8);
}

/** The first `n` bytes of a stream (fewer if it ends, or fails, sooner); the rest is not read. */
async function readHead(stream: Readable, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let have = 0;
  try {
    for await (const c of stream) {
      chunks.push(c as Buffer);
      have += (c as Buffer).length;
      if (have >= n) break;
    }
  } catch {
    // A stream that cannot be decompressed is not an archive.
  } finally {
    stream.destroy();
  }
  return Buffer.concat(chunks).subarray(0, n);
}

/** The archive's tar stream; gzip in-process, the others through the system's decompressors. */
export function openTarStream(path: string, kind: ArchiveKind): Readable {
  const file = createReadStream(path);
  if (kind === 'tar') return file;
  if (kind === 'gzip') {
    const gunzip = file.pipe(createGunzip());
    // A reader that stops early (detectArchive) must not leave the file open.
    gunzip.on('close', () => file.destroy());
    return gunzip;
  }
  const tool = kind === 'bzip2' ? 'bzip2' : kind === 'xz' ? 'xz' : 'zstd';
  const child = spawn(tool, ['-dc'], { stdio: ['pipe', 'pipe', 'ignore'] });
  file.pipe(child.stdin);
  // A decompressor that stops reading (its reader is done early) must not crash us with EPIPE; a
  // real failure shows as its exit code.
  child.stdin.on('error', () => undefined);
  child.stdout.on('close', () => {
    file.destroy();
    if (child.exitCode === null) child.kill();
  });
  child.on('error', (e) => child.stdout.destroy(new Error(`cannot decompress ${kind} archive: ${e.message}`)));
  child.on('exit', (code) => {
    if (code) child.stdout.destroy(new Error(`cannot decompress ${kind} archive: ${tool} exited with ${code}`));
  });
  return child.stdout;
}

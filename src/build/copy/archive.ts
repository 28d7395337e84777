import { spawn } from 'node:child_process';
import { open } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';

export type ArchiveKind = 'tar' | 'gzip' | 'bzip2' | 'xz' | 'zstd';

/** What ADD would extract: a tar, plain or compressed, judged by its first bytes as Docker does. */
export async function detectArchive(path: string): Promise<ArchiveKind | undefined> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(512);
    const { bytesRead } = await fh.read(buf, 0, 512, 0);
    const b = buf.subarray(0, bytesRead);
    if (b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
    if (b.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
    if (b.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
    if (b.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) return 'zstd';
    if (bytesRead >= 262 && b.subarray(257, 262).toString('latin1') === 'ustar') return 'tar';
    return undefined;
  } finally {
    await fh.close();
  }
}

/** The archive's tar stream; gzip in-process, the others through the system's decompressors. */
export function openTarStream(path: string, kind: ArchiveKind): Readable {
  const file = createReadStream(path);
  if (kind === 'tar') return file;
  if (kind === 'gzip') return file.pipe(createGunzip());
  const tool = kind === 'bzip2' ? 'bzip2' : kind === 'xz' ? 'xz' : 'zstd';
  const child = spawn(tool, ['-dc'], { stdio: ['pipe', 'pipe', 'ignore'] });
  file.pipe(child.stdin);
  child.on('error', (e) => child.stdout.destroy(new Error(`cannot decompress ${kind} archive: ${e.message}`)));
  child.on('exit', (code) => {
    if (code) child.stdout.destroy(new Error(`cannot decompress ${kind} archive: ${tool} exited with ${code}`));
  });
  return child.stdout;
}

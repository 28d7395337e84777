import { chmod, mkdir, mkdtemp, open, rm, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { MountError, type SecretSource } from './types.js';

/** BuildKit's limit: secrets are small (tokens, keys, config files). */
export const MAX_SECRET_SIZE = 500 * 1024;

const TMPFS_MAGIC = 0x01021994;

/**
 * A private (0700) directory for secret copies, in RAM when the host has a tmpfs at /dev/shm so that
 * a secret never touches a disk; otherwise under `<storeRoot>/tmp`.
 */
export async function makeSecretDir(storeRoot: string): Promise<string> {
  let parent = join(storeRoot, 'tmp');
  try {
    if ((await statfs('/dev/shm')).type === TMPFS_MAGIC) parent = '/dev/shm';
  } catch {
    // no /dev/shm: the store's tmp dir
  }
  await mkdir(parent, { recursive: true });
  const dir = await mkdtemp(join(parent, 'tsbuild-secrets-'));
  await chmod(dir, 0o700);
  return dir;
}

/** The secret's bytes, or undefined when its environment variable is not set (a missing secret). */
export async function readSecret(id: string, source: SecretSource, hostEnv: Readonly<Record<string, string | undefined>>): Promise<Buffer | undefined> {
  if (source.type === 'env') {
    const v = hostEnv[source.name];
    if (v === undefined) return undefined;
    const buf = Buffer.from(v, 'utf8');
    if (buf.length > MAX_SECRET_SIZE) throw new MountError(`secret ${id} is too big (max ${MAX_SECRET_SIZE} bytes)`);
    return buf;
  }
  const st = await stat(source.path).catch((e: NodeJS.ErrnoException) => {
    throw new MountError(`secret ${id}: cannot read ${source.path}: ${e.code ?? e.message}`);
  });
  if (!st.isFile()) throw new MountError(`secret ${id}: ${source.path} is not a file`);
  if (st.size > MAX_SECRET_SIZE) throw new MountError(`secret ${id} is too big (max ${MAX_SECRET_SIZE} bytes)`);
  const fh = await open(source.path, 'r');
  try {
    const buf = Buffer.alloc(MAX_SECRET_SIZE + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, null);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n > MAX_SECRET_SIZE) throw new MountError(`secret ${id} is too big (max ${MAX_SECRET_SIZE} bytes)`);
    }
    return buf.subarray(0, n);
  } finally {
    await fh.close();
  }
}

/** Writes a secret copy with its owner and mode set before any byte is written. */
export async function writeSecretFile(dir: string, name: string, data: Buffer, owner: { uid: number; gid: number; mode: number }): Promise<string> {
  const path = join(dir, name);
  const fh = await open(path, 'wx', 0o400);
  try {
    await fh.chown(owner.uid, owner.gid);
    await fh.chmod(owner.mode);
    await fh.writeFile(data);
  } catch (e) {
    await fh.close();
    await rm(path, { force: true });
    throw e;
  }
  await fh.close();
  return path;
}

export async function removeSecretDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** Where the token-signing key lives under the registry root: readable by the owner only. */
export const TOKEN_SECRET_FILE = 'token-secret';

const SECRET_BYTES = 32;

/**
 * The HMAC key that signs Bearer tokens, kept in `<root>/token-secret` (mode 0600) so that tokens
 * issued before a restart stay valid after it. Created on first use; when two servers start on
 * the same root at once, `link` lets exactly one key win and both read it.
 */
export async function loadTokenSecret(root: string): Promise<Buffer> {
  const path = join(root, TOKEN_SECRET_FILE);
  const existing = await readSecret(path);
  if (existing) return existing;

  await mkdir(root, { recursive: true });
  const temp = join(root, `.tmp-token-secret-${randomBytes(8).toString('hex')}`);
  const fh = await open(temp, 'wx', 0o600);
  try {
    await fh.writeFile(randomBytes(SECRET_BYTES).toString('hex'));
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await link(temp, path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  } finally {
    await rm(temp, { force: true });
  }
  const secret = await readSecret(path);
  if (!secret) throw new Error(`token secret ${path} vanished while being created`);
  return secret;
}

async function readSecret(path: string): Promise<Buffer | undefined> {
  let text: string;
  try {
    text = (await readFile(path, 'utf8')).trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  if (!/^[0-9a-f]+$/.test(text) || text.length < SECRET_BYTES * 2) {
    throw new Error(`token secret ${path} is corrupt: expected at least ${SECRET_BYTES * 2} hex digits`);
  }
  // A copied-in or restored file may have lost its mode: the key must not stay world-readable.
  if (((await stat(path)).mode & 0o077) !== 0) await chmod(path, 0o600);
  return Buffer.from(text, 'hex');
}

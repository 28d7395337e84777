import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { rootCertificates } from 'node:tls';
import { deferredCaCertificates } from '../net/deferred-ca.js';

/**
 * Node's fetch, or undici's with the deferred NODE_EXTRA_CA_CERTS trusted when the launcher deferred
 * them (see net/deferred-ca.ts).
 */
async function fetchFollowing(url: string, signal: AbortSignal | undefined): Promise<Response> {
  const extra = deferredCaCertificates();
  if (!extra) return fetch(url, { redirect: 'follow', ...(signal ? { signal } : {}) });
  const undici = await import('undici');
  const dispatcher = new undici.Agent({ connect: { ca: [...rootCertificates, extra] } });
  return (await undici.fetch(url, { redirect: 'follow', dispatcher, ...(signal ? { signal } : {}) })) as unknown as Response;
}

export class DownloadError extends Error {
  override name = 'DownloadError';
}

/**
 * ADD <url>: downloads into `<storeRoot>/build/downloads/`, verifying `--checksum` (`sha256:<hex>`)
 * before the file is used. The file is named after the URL's last path component, as BuildKit names it.
 */
export async function downloadUrl(storeRoot: string, url: string, checksum: string | undefined, signal?: AbortSignal): Promise<{ name: string; path: string; sha256: string }> {
  let name = '__unnamed__';
  try {
    const base = posix.basename(new URL(url).pathname);
    if (base && base !== '/' && base !== '.') name = base;
  } catch {
    throw new DownloadError(`invalid URL ${url}`);
  }
  if (checksum && !/^sha256:[a-f0-9]{64}$/.test(checksum)) throw new DownloadError(`unsupported checksum ${JSON.stringify(checksum)}: expected sha256:<hex>`);
  const dir = join(storeRoot, 'build', 'downloads');
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.dl-${randomBytes(8).toString('hex')}`);
  const res = await fetchFollowing(url, signal).catch((e: Error) => {
    throw new DownloadError(`failed to download ${url}: ${e.message}`);
  });
  if (!res.ok || !res.body) throw new DownloadError(`failed to download ${url}: HTTP ${res.status}`);
  const h = createHash('sha256');
  const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
  body.on('data', (c: Buffer) => h.update(c));
  try {
    await pipeline(body, createWriteStream(tmp));
  } catch (e) {
    await rm(tmp, { force: true });
    throw new DownloadError(`failed to download ${url}: ${(e as Error).message}`);
  }
  const sha256 = h.digest('hex');
  if (checksum && checksum !== `sha256:${sha256}`) {
    await rm(tmp, { force: true });
    throw new DownloadError(`digest mismatch for ${url}: expected ${checksum}, got sha256:${sha256}`);
  }
  const path = join(dir, sha256);
  await rename(tmp, path);
  return { name, path, sha256 };
}

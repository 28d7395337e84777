import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Descriptor } from '../image/descriptor.js';
import { type Digest, digestOf, isDigest } from '../image/digest.js';
import { type AnyManifest, parseManifest } from '../image/manifest.js';
import { MediaType } from '../image/media-types.js';
import { registryHost } from '../image/reference.js';
import type { FileRange } from '../net/bulk-request.js';
import { Authenticator, repositoryScope } from './auth/authenticator.js';
import type { CredentialStore, Credentials } from './credentials.js';
import { RegistryError, registryErrorFromBody } from './errors.js';
import { countedChunks, type OpenChunks } from './file-chunks.js';
import { counted } from './verify.js';
import { type HttpMethod, type HttpResponse, isConnectionError, type RequestBody, Transport, type TransportOptions } from './transport.js';

/** A repository in a registry; a parsed Reference is one. */
export interface RepoRef {
  /** Normalised registry name (`docker.io`, `localhost:5000`). */
  registry: string;
  repository: string;
}

/** Opens a blob's bytes, whole or a byte range (`end` inclusive), for (re)sending. */
export type OpenBlob = (range?: { start: number; end: number }) => Readable;

export interface ClientOptions {
  transport?: Transport;
  transportOptions?: TransportOptions;
  credentials?: CredentialStore;
  /**
   * Blobs larger than this go up in chunks of this size (PATCH); smaller ones in one PUT. By
   * default 64 MiB for plain-HTTP registries and 512 MiB for TLS ones.
   */
  chunkSize?: number;
}

export interface FetchedManifest {
  descriptor: Descriptor;
  bytes: Buffer;
  manifest: AnyManifest;
}

export const MANIFEST_ACCEPT = [MediaType.OciIndex, MediaType.OciManifest, MediaType.DockerManifestList, MediaType.DockerManifest].join(', ');

/** Manifests are small JSON; anything bigger is refused rather than buffered (the spec suggests 4 MiB). */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Upload chunks for TLS registries, which may be far: each chunk costs a round trip. */
const DEFAULT_CHUNK = 512 * 1024 * 1024;
/**
 * Upload chunks for registries spoken to in plain HTTP (loopback, or marked insecure: local or on
 * the LAN), where a request costs well under a millisecond. A registry that writes to its own
 * disk flushes what a request brought when the request ends (distribution fsyncs every chunk):
 * in chunks of this size most of a blob reaches the disk while the rest is still arriving,
 * instead of in one flush at the end that the push can only wait for.
 */
const NEAR_CHUNK = 64 * 1024 * 1024;
/** Body buffering for blob transfers: big enough to ride over hiccups, small enough to stay flat. */
const BODY_HIGH_WATER_MARK = 256 << 10;

interface SendOptions {
  method: HttpMethod;
  /** Path under the registry (`/v2/...`) or an absolute URL (upload locations). */
  path: string;
  scopes: string[];
  headers?: Record<string, string>;
  body?: RequestBody;
  signal?: AbortSignal | undefined;
  retry?: boolean;
  highWaterMark?: number;
  expectBytes?: number;
  bodyFile?: FileRange;
}

/**
 * The distribution-spec client: manifests, blobs (download with Range resume, monolithic or
 * chunked upload, cross-repository mount), tags. Authentication is handled underneath: a 401
 * teaches the Authenticator the registry's challenge and the request is sent again.
 */
export class RegistryClient {
  readonly transport: Transport;
  readonly auth: Authenticator;
  private readonly chunkSize: number | undefined;
  private readonly ownsTransport: boolean;

  constructor(opts: ClientOptions = {}) {
    this.ownsTransport = !opts.transport;
    this.transport = opts.transport ?? new Transport(opts.transportOptions);
    this.auth = new Authenticator(this.transport, opts.credentials);
    this.chunkSize = opts.chunkSize;
  }

  async close(): Promise<void> {
    if (this.ownsTransport) await this.transport.close();
  }

  baseUrl(registry: string): string {
    return this.transport.baseUrl(registryHost(registry));
  }

  /** Sends with authorization, re-authenticating once on 401 and following GET/HEAD redirects. */
  private async send(registry: string, o: SendOptions): Promise<HttpResponse> {
    const base = this.baseUrl(registry);
    let url = new URL(o.path, base);
    const origin = new URL(base).origin;
    let authTries = 0;
    for (let redirects = 0; ; ) {
      // Credentials only go to the registry itself, never to a redirect target (a CDN, S3).
      const sameOrigin = url.origin === origin;
      const authorization = sameOrigin ? await this.auth.authorize(registry, o.scopes, o.signal) : undefined;
      const res = await this.transport.request({
        method: o.method,
        url: url.href,
        headers: { ...o.headers, ...(authorization ? { authorization } : {}) },
        ...(o.body !== undefined ? { body: o.body } : {}),
        ...(o.signal ? { signal: o.signal } : {}),
        ...(o.retry !== undefined ? { retry: o.retry } : {}),
        ...(o.highWaterMark ? { highWaterMark: o.highWaterMark } : {}),
        ...(o.expectBytes !== undefined ? { expectBytes: o.expectBytes } : {}),
        ...(o.bodyFile ? { bodyFile: o.bodyFile } : {}),
      });
      if (res.status === 401 && sameOrigin && authTries < 2) {
        const again = this.auth.onUnauthorized(registry, res.headers['www-authenticate'], o.scopes, !!authorization);
        if (again) {
          authTries++;
          await res.body.dump().catch(() => undefined);
          continue;
        }
      }
      const location = header(res, 'location');
      if ((o.method === 'GET' || o.method === 'HEAD') && [301, 302, 303, 307, 308].includes(res.status) && location) {
        if (++redirects > 5) throw new RegistryError(registry, `too many redirects for ${o.path}`, res.status);
        await res.body.dump().catch(() => undefined);
        url = new URL(location, url);
        continue;
      }
      return res;
    }
  }

  private async fail(registry: string, res: HttpResponse, what: string): Promise<never> {
    const text = await readCapped(res, 64 * 1024).catch(() => '');
    throw registryErrorFromBody(registry, res.status, text, what);
  }

  /** `GET /v2/`: checks the registry answers and that our credentials (if any) are accepted. */
  async ping(registry: string, signal?: AbortSignal): Promise<void> {
    const res = await this.send(registry, { method: 'GET', path: '/v2/', scopes: [], signal });
    if (res.status === 200) {
      await res.body.dump();
      return;
    }
    await this.fail(registry, res, 'registry check');
  }

  /**
   * Verifies credentials the way docker login does: the registry's challenge, then a token (or a
   * basic-authenticated /v2/) with them. Throws RegistryError when they are refused.
   */
  async login(registry: string, creds: Credentials, signal?: AbortSignal): Promise<void> {
    this.auth.setCredentials(registry, creds);
    const first = await this.send(registry, { method: 'GET', path: '/v2/', scopes: [], signal });
    if (first.status === 200) {
      await first.body.dump();
      return;
    }
    if (first.status === 401) {
      await first.body.dump();
      throw new RegistryError(registry, 'login failed: incorrect username or password', 401, 'UNAUTHORIZED');
    }
    await this.fail(registry, first, 'login');
  }

  /** Fetches a manifest or index by tag or digest, verified against the digest when one is known. */
  async getManifest(repo: RepoRef, ref: string, opts: { signal?: AbortSignal } = {}): Promise<FetchedManifest> {
    const res = await this.send(repo.registry, {
      method: 'GET',
      path: `/v2/${repo.repository}/manifests/${ref}`,
      scopes: [repositoryScope(repo.repository, 'pull')],
      headers: { accept: MANIFEST_ACCEPT },
      signal: opts.signal,
    });
    if (res.status !== 200) await this.fail(repo.registry, res, `manifest ${repo.repository}:${ref}`);
    const bytes = await readBytesCapped(res, MAX_MANIFEST_BYTES, repo.registry, `manifest ${repo.repository}:${ref}`);
    const contentType = header(res, 'content-type')?.split(';')[0]?.trim();
    const want = isDigest(ref) ? ref : undefined;
    const digest = digestOf(bytes, want?.startsWith('sha512:') ? 'sha512' : 'sha256');
    if (want && digest !== want) throw new RegistryError(repo.registry, `manifest ${repo.repository}@${want}: content has digest ${digest}`, res.status, 'DIGEST_INVALID');
    const claimed = header(res, 'docker-content-digest');
    if (!want && claimed && claimed.startsWith('sha256:') && claimed !== digest) {
      throw new RegistryError(repo.registry, `manifest ${repo.repository}:${ref}: Docker-Content-Digest ${claimed} does not match content ${digest}`, res.status, 'DIGEST_INVALID');
    }
    let manifest: AnyManifest;
    try {
      manifest = parseManifest(bytes, contentType);
    } catch (e) {
      throw new RegistryError(repo.registry, `manifest ${repo.repository}:${ref}: ${(e as Error).message}`, res.status, 'MANIFEST_INVALID');
    }
    return { descriptor: { mediaType: manifest.mediaType, digest, size: bytes.length }, bytes, manifest };
  }

  /** HEAD of a manifest: its descriptor, or undefined when the registry does not have it. */
  async headManifest(repo: RepoRef, ref: string, signal?: AbortSignal): Promise<Descriptor | undefined> {
    const res = await this.send(repo.registry, {
      method: 'HEAD',
      path: `/v2/${repo.repository}/manifests/${ref}`,
      scopes: [repositoryScope(repo.repository, 'pull')],
      headers: { accept: MANIFEST_ACCEPT },
      signal,
    });
    await res.body.dump();
    if (res.status === 404) return undefined;
    if (res.status !== 200) await this.fail(repo.registry, res, `manifest ${repo.repository}:${ref}`);
    const digest = header(res, 'docker-content-digest');
    const size = Number(header(res, 'content-length'));
    if (!digest || !isDigest(digest) || !Number.isSafeInteger(size)) return undefined;
    return { mediaType: header(res, 'content-type') ?? MediaType.OciManifest, digest, size };
  }

  /** The size of a blob in a repository, or undefined when it is not there. */
  async headBlob(repo: RepoRef, digest: Digest, opts: { signal?: AbortSignal; push?: boolean } = {}): Promise<number | undefined> {
    const res = await this.send(repo.registry, {
      method: 'HEAD',
      path: `/v2/${repo.repository}/blobs/${digest}`,
      scopes: [repositoryScope(repo.repository, opts.push ? 'pull,push' : 'pull')],
      signal: opts.signal,
    });
    await res.body.dump();
    if (res.status === 404) return undefined;
    if (res.status !== 200) await this.fail(repo.registry, res, `blob ${digest}`);
    const size = Number(header(res, 'content-length'));
    return Number.isSafeInteger(size) ? size : 0;
  }

  /**
   * A blob's bytes as a stream. An interrupted transfer resumes with `Range: bytes=N-` (or, when
   * the server ignores ranges, by skipping what was already delivered), a bounded number of times.
   * The stream does not verify the digest: the consumer (the store, or `verifying`) does.
   */
  blobStream(repo: RepoRef, desc: { digest: Digest; size?: number }, opts: { signal?: AbortSignal; onBytes?: (n: number) => void } = {}): Readable {
    return Readable.from(this.blobChunks(repo, desc, opts), { objectMode: false, highWaterMark: BODY_HIGH_WATER_MARK });
  }

  /**
   * The chunks of `blobStream` without a stream around them, for a consumer that iterates anyway
   * (the store's write): one stage less per chunk. Same resume and retry behaviour.
   */
  async *blobChunks(repo: RepoRef, desc: { digest: Digest; size?: number }, opts: { signal?: AbortSignal; onBytes?: (n: number) => void } = {}): AsyncGenerator<Buffer> {
    let offset = 0;
    let failures = 0;
    for (;;) {
      const res = await this.send(repo.registry, {
        method: 'GET',
        path: `/v2/${repo.repository}/blobs/${desc.digest}`,
        scopes: [repositoryScope(repo.repository, 'pull')],
        headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
        signal: opts.signal,
        highWaterMark: BODY_HIGH_WATER_MARK,
        ...(desc.size !== undefined ? { expectBytes: desc.size - offset } : {}),
      });
      let skip = 0;
      if (res.status === 206 && offset > 0) {
        const start = /bytes (\d+)-/.exec(header(res, 'content-range') ?? '')?.[1];
        if (start !== undefined && Number(start) !== offset) {
          await res.body.dump();
          throw new RegistryError(repo.registry, `blob ${desc.digest}: asked to resume at ${offset}, got range starting at ${start}`, 206);
        }
      } else if (res.status === 200) {
        skip = offset;
      } else {
        await this.fail(repo.registry, res, `blob ${desc.digest}`);
      }
      try {
        for await (const c of res.body as AsyncIterable<Buffer>) {
          let chunk = c;
          if (skip > 0) {
            if (chunk.length <= skip) {
              skip -= chunk.length;
              continue;
            }
            chunk = chunk.subarray(skip);
            skip = 0;
          }
          offset += chunk.length;
          opts.onBytes?.(chunk.length);
          yield chunk;
        }
        if (desc.size === undefined || offset >= desc.size) return;
        // A clean end short of the size: the connection was cut between chunks; resume.
        throw Object.assign(new Error(`blob ${desc.digest}: stream ended at ${offset} of ${desc.size} bytes`), { code: 'ECONNRESET' });
      } catch (e) {
        if (opts.signal?.aborted || !isConnectionError(e) || failures >= this.transport.retries) {
          if (isConnectionError(e)) throw new RegistryError(repo.registry, `blob ${desc.digest}: download interrupted at ${offset} bytes (${(e as { code?: string }).code})`);
          throw e;
        }
        res.body.destroy();
        await sleep(this.transport.backoff(failures++), undefined, opts.signal ? { signal: opts.signal } : undefined);
      } finally {
        // Also when the consumer stops early (an error on its side): release the connection.
        if (!res.body.readableEnded) res.body.destroy();
      }
    }
  }

  /**
   * Asks the registry to mount a blob from another repository. True when mounted; otherwise the
   * location of the upload session the registry opened instead (usable for a normal upload).
   */
  async mountBlob(repo: RepoRef, digest: Digest, from: string, signal?: AbortSignal): Promise<true | string> {
    const q = new URLSearchParams({ mount: digest, from });
    const res = await this.send(repo.registry, {
      method: 'POST',
      path: `/v2/${repo.repository}/blobs/uploads/?${q}`,
      scopes: [repositoryScope(repo.repository, 'pull,push'), repositoryScope(from, 'pull')],
      headers: { 'content-length': '0' },
      signal,
    });
    await res.body.dump();
    if (res.status === 201) return true;
    const location = header(res, 'location');
    if (res.status === 202 && location) return new URL(location, this.baseUrl(repo.registry)).href;
    return this.fail(repo.registry, res, `mount of ${digest} from ${from}`);
  }

  /** Opens an upload session; its absolute location. */
  async startUpload(repo: RepoRef, signal?: AbortSignal): Promise<string> {
    const res = await this.send(repo.registry, {
      method: 'POST',
      path: `/v2/${repo.repository}/blobs/uploads/`,
      scopes: [repositoryScope(repo.repository, 'pull,push')],
      headers: { 'content-length': '0' },
      signal,
    });
    await res.body.dump();
    const location = header(res, 'location');
    if (res.status !== 202 || !location) return this.fail(repo.registry, res, `upload to ${repo.repository}`);
    return new URL(location, this.baseUrl(repo.registry)).href;
  }

  /**
   * Uploads a blob (the caller has checked it is missing): one PUT for small blobs, PATCH chunks
   * then PUT for large ones. A failed attempt is retried from a fresh session, boundedly.
   */
  async uploadBlob(
    repo: RepoRef,
    desc: { digest: Digest; size: number },
    open: OpenBlob | OpenChunks,
    opts: { signal?: AbortSignal; location?: string; chunked?: boolean; onBytes?: (n: number) => void; file?: string } = {},
  ): Promise<void> {
    let location = opts.location;
    for (let attempt = 0; ; attempt++) {
      try {
        location ??= await this.startUpload(repo, opts.signal);
        const chunkSize = this.chunkSize ?? (this.baseUrl(repo.registry).startsWith('http:') ? NEAR_CHUNK : DEFAULT_CHUNK);
        const chunked = opts.chunked ?? desc.size > chunkSize;
        if (chunked) await this.uploadChunks(repo, location, desc, open, { ...opts, chunkSize });
        else await this.uploadWhole(repo, location, desc, open, opts);
        return;
      } catch (e) {
        location = undefined;
        const status = (e as RegistryError).status;
        const retryable = isConnectionError(e) || (e instanceof RegistryError && (status === undefined || status === 429 || status >= 500) && !e.code?.startsWith('DIGEST'));
        if (opts.signal?.aborted || !retryable || attempt >= this.transport.retries) throw e;
        await sleep(this.transport.backoff(attempt), undefined, opts.signal ? { signal: opts.signal } : undefined);
      }
    }
  }

  private async uploadWhole(repo: RepoRef, location: string, desc: { digest: Digest; size: number }, open: OpenBlob | OpenChunks, opts: { signal?: AbortSignal; onBytes?: (n: number) => void; file?: string }): Promise<void> {
    const url = new URL(location);
    url.searchParams.set('digest', desc.digest);
    const res = await this.send(repo.registry, {
      method: 'PUT',
      path: url.href,
      scopes: [repositoryScope(repo.repository, 'pull,push')],
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(desc.size) },
      body: () => countedBody(open(), opts.onBytes),
      ...(opts.file ? { bodyFile: fileRange(opts.file, 0, desc.size - 1, opts.onBytes) } : {}),
      signal: opts.signal,
      retry: false,
    });
    await res.body.dump();
    if (res.status !== 201) await this.fail(repo.registry, res, `upload of ${desc.digest}`);
  }

  private async uploadChunks(repo: RepoRef, location: string, desc: { digest: Digest; size: number }, open: OpenBlob | OpenChunks, opts: { signal?: AbortSignal; onBytes?: (n: number) => void; chunkSize: number; file?: string }): Promise<void> {
    let loc = location;
    const scopes = [repositoryScope(repo.repository, 'pull,push')];
    for (const { start, end } of chunkRanges(desc, opts.chunkSize)) {
      const res = await this.send(repo.registry, {
        method: 'PATCH',
        path: loc,
        scopes,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(end - start + 1), 'content-range': `${start}-${end}` },
        body: () => countedBody(open({ start, end }), opts.onBytes),
        ...(opts.file ? { bodyFile: fileRange(opts.file, start, end, opts.onBytes) } : {}),
        signal: opts.signal,
        retry: false,
      });
      await res.body.dump();
      const next = header(res, 'location');
      if (res.status !== 202 || !next) await this.fail(repo.registry, res, `chunk ${start}-${end} of ${desc.digest}`);
      loc = new URL(next!, loc).href;
    }
    const url = new URL(loc);
    url.searchParams.set('digest', desc.digest);
    const res = await this.send(repo.registry, { method: 'PUT', path: url.href, scopes, headers: { 'content-length': '0' }, signal: opts.signal, retry: false });
    await res.body.dump();
    if (res.status !== 201) await this.fail(repo.registry, res, `upload of ${desc.digest}`);
  }

  /** PUTs a manifest under a tag or its digest; returns the digest (checked against the server's). */
  async putManifest(repo: RepoRef, ref: string, bytes: Buffer, mediaType: string, signal?: AbortSignal): Promise<Digest> {
    const digest = digestOf(bytes);
    const res = await this.send(repo.registry, {
      method: 'PUT',
      path: `/v2/${repo.repository}/manifests/${ref}`,
      scopes: [repositoryScope(repo.repository, 'pull,push')],
      headers: { 'content-type': mediaType },
      body: bytes,
      signal,
    });
    await res.body.dump().catch(() => undefined);
    if (res.status !== 201) await this.fail(repo.registry, res, `manifest ${repo.repository}:${ref}`);
    const claimed = header(res, 'docker-content-digest');
    if (claimed && claimed !== digest) throw new RegistryError(repo.registry, `manifest ${repo.repository}:${ref}: registry stored ${claimed}, we sent ${digest}`, res.status);
    return digest;
  }

  /** Every tag of a repository, following `Link: <...>; rel="next"` pagination. */
  async listTags(repo: RepoRef, signal?: AbortSignal): Promise<string[]> {
    const tags: string[] = [];
    let path = `/v2/${repo.repository}/tags/list`;
    for (let pages = 0; pages < 1000; pages++) {
      const res = await this.send(repo.registry, { method: 'GET', path, scopes: [repositoryScope(repo.repository, 'pull')], signal });
      if (res.status !== 200) await this.fail(repo.registry, res, `tags of ${repo.repository}`);
      const body = JSON.parse((await readBytesCapped(res, 16 * 1024 * 1024, repo.registry, `tags of ${repo.repository}`)).toString('utf8')) as { tags?: unknown };
      if (Array.isArray(body.tags)) for (const t of body.tags) if (typeof t === 'string') tags.push(t);
      const next = /<([^>]+)>\s*;\s*rel="?next"?/.exec(header(res, 'link') ?? '')?.[1];
      if (!next) return tags;
      path = new URL(next, this.baseUrl(repo.registry)).href;
    }
    return tags;
  }
}

/**
 * The byte ranges (`end` inclusive) a blob goes up in: `chunkSize` each, except the first, whose
 * length is taken from the digest (between half and one and a half chunk sizes), so that uploads
 * running side by side reach their chunk ends, where a registry may flush what it received to
 * disk, at different times instead of all stalling at once.
 */
export function chunkRanges(desc: { digest: Digest; size: number }, chunkSize: number): { start: number; end: number }[] {
  const ranges: { start: number; end: number }[] = [];
  const first = Math.max(1, Math.round(chunkSize * (0.5 + parseInt(desc.digest.slice(-4), 16) / 0x10000)));
  for (let start = 0; start < desc.size; ) {
    const end = Math.min(desc.size, start + (start === 0 ? first : chunkSize)) - 1;
    ranges.push({ start, end });
    start = end + 1;
  }
  return ranges;
}

function fileRange(path: string, start: number, end: number, onBytes?: (n: number) => void): FileRange {
  return { path, start, end, ...(onBytes ? { onBytes } : {}) };
}

/** Progress counting that keeps the body's kind: a stream stays a stream, chunks stay pulled one by one. */
function countedBody(body: Readable | AsyncIterable<Uint8Array>, onBytes?: (n: number) => void): Readable | AsyncIterable<Uint8Array> {
  if (!onBytes) return body;
  return body instanceof Readable ? counted(body, onBytes) : countedChunks(body, onBytes);
}

export function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

async function readBytesCapped(res: HttpResponse, max: number, registry: string, what: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of res.body as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > max) {
      res.body.destroy();
      throw new RegistryError(registry, `${what}: larger than ${max} bytes`);
    }
    parts.push(c);
  }
  return Buffer.concat(parts);
}

async function readCapped(res: HttpResponse, max: number): Promise<string> {
  if (res.body.readableEnded || res.body.destroyed) return '';
  const b = await readBytesCapped(res, max, '', 'error body').catch(() => Buffer.alloc(0));
  return b.toString('utf8');
}

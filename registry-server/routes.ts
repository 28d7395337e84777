import type { IncomingMessage, ServerResponse } from 'node:http';
import { type FileHandle, open } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Digest, DigestError, isDigest, parseDigest } from '../src/image/digest.js';
import { MediaType } from '../src/image/media-types.js';
import { canSendFileTo, sendFileRange } from '../src/net/send-file.js';
import { isValidRepository, isValidTag } from '../src/image/reference.js';
import type { Authorizer, Identity } from './auth.js';
import type { RepoBlobStore } from './blob-store.js';
import { listRepositories, paginate, repositoryExists } from './catalog.js';
import { RegistryHttpError } from './errors.js';
import { contentLength, drain, hasBody, parseRange, readBounded, sendEmpty, sendJson } from './http-util.js';
import type { ManifestStore } from './manifest-store.js';
import { isNotFound, type StorageDriver } from './storage/driver.js';
import type { Access } from './token.js';
import { type AppendOptions, isUploadId, rangeHeaders, type UploadStore } from './upload-store.js';

export interface RegistryAppOptions {
  driver: StorageDriver;
  blobs: RepoBlobStore;
  uploads: UploadStore;
  manifests: ManifestStore;
  auth: Authorizer;
  readOnly: boolean;
  /** Mount blobs found in any repository the client may pull when `from` is absent or unusable. */
  automaticMount: boolean;
  maxManifestBytes: number;
}

/** What a handled request leaves for the access log. */
export interface RequestOutcome {
  user?: string;
  error?: string;
}

const API_VERSION = { 'Docker-Distribution-API-Version': 'registry/2.0' };

// The name is everything before the first suffix that makes the rest a valid route; the lazy
// match plus anchoring finds it even for names that contain `blobs` or `manifests` components.
const ROUTE = /^\/v2\/(.+?)\/(?:(blobs\/uploads)\/?|blobs\/uploads\/([^/]+)|blobs\/([^/]+)|manifests\/([^/]+)|(tags\/list)|referrers\/([^/]+))$/;

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

function pull(name: string): Access[] {
  return [{ type: 'repository', name, actions: ['pull'] }];
}
function push(name: string): Access[] {
  return [{ type: 'repository', name, actions: ['pull', 'push'] }];
}
function del(name: string): Access[] {
  return [{ type: 'repository', name, actions: ['delete'] }];
}

function unsupported(method: string | undefined): RegistryHttpError {
  return new RegistryHttpError('UNSUPPORTED', `method ${method} not allowed here`);
}

function digestParam(v: string | null | undefined, what = 'digest'): Digest {
  if (!v || !isDigest(v)) throw new RegistryHttpError('DIGEST_INVALID', `invalid ${what} ${JSON.stringify((v ?? '').slice(0, 200))}`);
  return v;
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new RegistryHttpError('NAME_INVALID', 'malformed percent-encoding in path');
  }
}

function pageSize(url: URL): number | undefined {
  const n = url.searchParams.get('n');
  if (n === null) return undefined;
  if (!/^\d+$/.test(n) || Number(n) > 100000) throw new RegistryHttpError('SIZE_INVALID', `invalid page size n=${JSON.stringify(n)}`);
  return Number(n);
}

/** Most tags one manifest push may set through `?tag=` (the spec asks for at least 10). */
const MAX_TAG_PARAMS = 100;

/** `?tag=a&tag=b` on a push by digest: every one valid, duplicates dropped, order kept. */
function tagParams(url: URL): string[] {
  const tags = [...new Set(url.searchParams.getAll('tag'))];
  if (tags.length > MAX_TAG_PARAMS) {
    throw new RegistryHttpError('SIZE_INVALID', `at most ${MAX_TAG_PARAMS} tag parameters per request`, { count: tags.length }, { status: 414 });
  }
  for (const t of tags) if (!isValidTag(t)) throw new RegistryHttpError('MANIFEST_INVALID', 'invalid tag', { tag: t.slice(0, 200) });
  return tags;
}

/** The distribution-spec v1.1 API over the stores: one method per route, errors as spec codes. */
export class RegistryApp {
  constructor(private readonly o: RegistryAppOptions) {}

  /** Handles a request end to end; never throws. */
  async handle(req: IncomingMessage, res: ServerResponse, baseUrl: string): Promise<RequestOutcome> {
    const outcome: RequestOutcome = {};
    try {
      const url = new URL(req.url ?? '/', 'http://registry.invalid');
      await this.route(req, res, url, baseUrl, outcome);
    } catch (e) {
      const err = this.toHttpError(e);
      outcome.error = err.message;
      if (res.headersSent) {
        res.destroy();
      } else {
        // An unread request body would be taken for the next request on this connection.
        if (!req.complete) res.setHeader('Connection', 'close');
        const body = err.body();
        res.writeHead(err.status, { ...API_VERSION, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...err.headers });
        res.end(req.method === 'HEAD' ? undefined : body);
      }
    }
    return outcome;
  }

  private toHttpError(e: unknown): RegistryHttpError {
    if (e instanceof RegistryHttpError) return e;
    if (e instanceof DigestError) return new RegistryHttpError('DIGEST_INVALID', e.message);
    const code = (e as NodeJS.ErrnoException | null)?.code;
    if (code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET' || (e as Error | null)?.message === 'aborted') {
      return new RegistryHttpError('BLOB_UPLOAD_INVALID', 'request body ended early');
    }
    return new RegistryHttpError('UNKNOWN', `internal error: ${(e as Error)?.message ?? String(e)}`);
  }

  private async authorize(req: IncomingMessage, needed: Access[], baseUrl: string, outcome: RequestOutcome, wanted: Access[] = []): Promise<Identity> {
    const id = await this.o.auth.authorize(req, needed, baseUrl, wanted);
    if (id.user) outcome.user = id.user;
    return id;
  }

  private async route(req: IncomingMessage, res: ServerResponse, url: URL, baseUrl: string, outcome: RequestOutcome): Promise<void> {
    // The raw path, not URL's: it would resolve `%2e%2e` segments into another repository's name.
    const path = (req.url ?? '/').split('?')[0]!;
    const method = req.method ?? 'GET';
    if (path === '/health' || path === '/healthz') {
      sendJson(res, 200, { status: 'ok' });
      return;
    }
    if (path === '/token') {
      const r = await this.o.auth.handleToken(req, res, url);
      if (r.user) outcome.user = r.user;
      return;
    }
    if (!path.startsWith('/v2')) throw new RegistryHttpError('NAME_UNKNOWN', 'not found', undefined, { status: 404 });
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    if (this.o.readOnly && WRITE_METHODS.has(method)) {
      throw new RegistryHttpError('UNSUPPORTED', 'the registry is in read-only mode', undefined, { status: 405 });
    }
    if (path === '/v2' || path === '/v2/') {
      if (method !== 'GET' && method !== 'HEAD') throw unsupported(method);
      await this.authorize(req, [], baseUrl, outcome);
      sendJson(res, 200, {}, {}, method === 'HEAD');
      return;
    }
    if (path === '/v2/_catalog') {
      if (method !== 'GET') throw unsupported(method);
      await this.authorize(req, [{ type: 'registry', name: 'catalog', actions: ['*'] }], baseUrl, outcome);
      return this.catalog(res, url);
    }
    const m = ROUTE.exec(path);
    if (!m) throw new RegistryHttpError('NAME_UNKNOWN', 'no such route', { path: path.slice(0, 200) }, { status: 404 });
    const [, name, uploads, uploadId, blob, manifest, tags, referrers] = m;
    if (!isValidRepository(name!)) throw new RegistryHttpError('NAME_INVALID', 'invalid repository name', { name: name!.slice(0, 300) });
    const repo = name!;
    if (uploads !== undefined) {
      if (method !== 'POST') throw unsupported(method);
      const from = url.searchParams.get('mount') !== null ? url.searchParams.get('from') : null;
      await this.authorize(req, push(repo), baseUrl, outcome, from !== null && from !== repo && isValidRepository(from) ? pull(from) : []);
      return this.startUpload(req, res, repo, url, baseUrl);
    }
    if (uploadId !== undefined) {
      const id = decodeSegment(uploadId);
      if (!isUploadId(id)) throw new RegistryHttpError('BLOB_UPLOAD_UNKNOWN', 'blob upload unknown to registry', { uuid: id.slice(0, 100) });
      await this.authorize(req, push(repo), baseUrl, outcome);
      return this.upload(req, res, repo, id, url);
    }
    if (blob !== undefined) {
      const d = digestParam(decodeSegment(blob));
      if (method === 'GET' || method === 'HEAD') {
        await this.authorize(req, pull(repo), baseUrl, outcome);
        return this.getBlob(req, res, repo, d);
      }
      if (method === 'DELETE') {
        await this.authorize(req, del(repo), baseUrl, outcome);
        if (!(await this.o.blobs.unlink(repo, d))) throw new RegistryHttpError('BLOB_UNKNOWN', 'blob unknown to registry', { digest: d });
        sendEmpty(res, 202);
        return;
      }
      throw unsupported(method);
    }
    if (manifest !== undefined) {
      const ref = decodeSegment(manifest);
      return this.manifest(req, res, repo, ref, url, baseUrl, outcome);
    }
    if (tags !== undefined) {
      if (method !== 'GET') throw unsupported(method);
      await this.authorize(req, pull(repo), baseUrl, outcome);
      return this.tags(res, repo, url);
    }
    if (referrers !== undefined) {
      if (method !== 'GET') throw unsupported(method);
      const d = digestParam(decodeSegment(referrers));
      await this.authorize(req, pull(repo), baseUrl, outcome);
      const artifactType = url.searchParams.get('artifactType') ?? undefined;
      const manifests = await this.o.manifests.referrers(repo, d, artifactType);
      sendJson(res, 200, { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }, { 'Content-Type': MediaType.OciIndex, ...(artifactType !== undefined ? { 'OCI-Filters-Applied': 'artifactType' } : {}) });
      return;
    }
  }

  private async catalog(res: ServerResponse, url: URL): Promise<void> {
    const n = pageSize(url);
    const last = url.searchParams.get('last') ?? undefined;
    const { page, more } = paginate(await listRepositories(this.o.driver), n, last);
    const headers: Record<string, string> = {};
    if (more && page.length) headers.Link = `</v2/_catalog?n=${n}&last=${encodeURIComponent(page[page.length - 1]!)}>; rel="next"`;
    sendJson(res, 200, { repositories: page }, headers);
  }

  private async tags(res: ServerResponse, repo: string, url: URL): Promise<void> {
    const n = pageSize(url);
    const last = url.searchParams.get('last') ?? undefined;
    if (!(await repositoryExists(this.o.driver, repo))) throw new RegistryHttpError('NAME_UNKNOWN', 'repository name not known to registry', { name: repo });
    const { page, more } = paginate(await this.o.manifests.tags(repo), n, last);
    const headers: Record<string, string> = {};
    if (more && page.length) headers.Link = `</v2/${repo}/tags/list?n=${n}&last=${encodeURIComponent(page[page.length - 1]!)}>; rel="next"`;
    sendJson(res, 200, { name: repo, tags: page }, headers);
  }

  private async getBlob(req: IncomingMessage, res: ServerResponse, repo: string, d: Digest): Promise<void> {
    const size = await this.o.blobs.stat(repo, d);
    if (size === undefined) throw new RegistryHttpError('BLOB_UNKNOWN', 'blob unknown to registry', { digest: d });
    const headers: Record<string, string | number> = {
      'Content-Type': 'application/octet-stream',
      'Docker-Content-Digest': d,
      'Accept-Ranges': 'bytes',
      ETag: `"${d}"`,
      'Cache-Control': 'max-age=31536000',
    };
    if (req.method === 'HEAD') {
      // A client that finds the blob here may skip uploading it: keep it young for GC's grace.
      await this.o.blobs.touch(d);
      res.writeHead(200, { ...headers, 'Content-Length': size });
      res.end();
      return;
    }
    const range = parseRange(req.headers.range, size);
    if (range === 'invalid') {
      throw new RegistryHttpError('SIZE_INVALID', 'requested range not satisfiable', { size }, { status: 416, headers: { 'Content-Range': `bytes */${size}` } });
    }
    const span = range ?? (size > 0 ? { start: 0, end: size - 1 } : undefined);
    const file = span && size >= SENDFILE_MIN && res.socket && canSendFileTo(res.socket) ? this.o.blobs.localFile(d) : undefined;
    let source: Readable | FileHandle;
    try {
      source = file ? await open(file, 'r') : await this.o.blobs.open(d, span);
    } catch (e) {
      if (isNotFound(e) || (e as NodeJS.ErrnoException).code === 'ENOENT') throw new RegistryHttpError('BLOB_UNKNOWN', 'blob unknown to registry', { digest: d });
      throw e;
    }
    if (range) {
      res.writeHead(206, { ...headers, 'Content-Length': range.end - range.start + 1, 'Content-Range': `bytes ${range.start}-${range.end}/${size}` });
    } else {
      res.writeHead(200, { ...headers, 'Content-Length': size });
    }
    if (source instanceof Readable) return pipeline(source, res);
    try {
      await sendBody(res, source, span!);
    } finally {
      await source.close();
    }
  }

  private async startUpload(req: IncomingMessage, res: ServerResponse, repo: string, url: URL, baseUrl: string): Promise<void> {
    const mount = url.searchParams.get('mount');
    const from = url.searchParams.get('from');
    if (mount !== null) {
      const d = digestParam(mount, 'mount digest');
      if (await this.mountable(req, repo, d, from, baseUrl)) {
        await this.o.blobs.link(repo, d);
        await this.o.blobs.touch(d);
        await drain(req);
        sendEmpty(res, 201, { Location: `/v2/${repo}/blobs/${d}`, 'Docker-Content-Digest': d });
        return;
      }
      // Not mountable: the spec has the registry fall back to an ordinary upload session.
    }
    const digest = url.searchParams.get('digest');
    if (digest !== null && mount === null) {
      const d = digestParam(digest);
      const length = contentLength(req);
      const id = await this.o.uploads.start(repo);
      try {
        await this.o.uploads.finish(repo, id, d, req, length !== undefined ? { length } : {});
      } catch (e) {
        await this.o.uploads.cancel(repo, id).catch(() => undefined);
        throw e;
      }
      sendEmpty(res, 201, { Location: `/v2/${repo}/blobs/${d}`, 'Docker-Content-Digest': d });
      return;
    }
    await drain(req);
    const id = await this.o.uploads.start(repo);
    sendEmpty(res, 202, { ...rangeHeaders(repo, id, 0), 'OCI-Chunk-Min-Length': '0' });
  }

  /**
   * Whether `d` may be linked into `repo` without an upload: it is in `from` and the client may
   * pull `from`, or (automatic mounting) it is in some repository the client may pull. Never
   * reveals a blob the client could not read anyway.
   */
  private async mountable(req: IncomingMessage, repo: string, d: Digest, from: string | null, baseUrl: string): Promise<boolean> {
    if (from !== null && isValidRepository(from) && (from === repo || (await this.o.auth.mayPull(req, from, baseUrl))) && (await this.o.blobs.stat(from, d)) !== undefined) {
      return true;
    }
    // Without automatic mounting, a mount that names no usable source is an ordinary upload.
    if (!this.o.automaticMount) return false;
    const readable = this.o.auth.pullableRepositories(req);
    // Every repository is readable: the bytes being in the store at all is enough.
    if (readable === 'all') return (await this.o.blobs.globalSize(d)) !== undefined;
    for (const r of readable) {
      if (isValidRepository(r) && (await this.o.blobs.stat(r, d)) !== undefined) return true;
    }
    return false;
  }

  /** Content-Range (`start-end`, with or without a `bytes` unit) checked against Content-Length. */
  private chunkOptions(req: IncomingMessage, repo: string, id: string): AppendOptions {
    const length = contentLength(req);
    const header = req.headers['content-range'];
    if (header === undefined) return length !== undefined ? { length } : {};
    const m = /^(?:bytes[= ])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
    const bad = (why: string) => new RegistryHttpError('BLOB_UPLOAD_INVALID', why, { contentRange: header.slice(0, 100) }, { status: 416, headers: { Location: `/v2/${repo}/blobs/uploads/${id}`, 'Docker-Upload-UUID': id } });
    if (!m) throw bad('malformed Content-Range');
    const start = Number(m[1]);
    const end = Number(m[2]);
    if (end < start) throw bad('Content-Range ends before it starts');
    if (length !== undefined && length !== end - start + 1) throw bad(`Content-Range covers ${end - start + 1} bytes but Content-Length is ${length}`);
    return { start, length: end - start + 1 };
  }

  private async upload(req: IncomingMessage, res: ServerResponse, repo: string, id: string, url: URL): Promise<void> {
    const method = req.method;
    if (method === 'GET' || method === 'HEAD') {
      const size = await this.o.uploads.status(repo, id);
      sendEmpty(res, 204, rangeHeaders(repo, id, size));
      return;
    }
    if (method === 'PATCH') {
      const opts = this.chunkOptions(req, repo, id);
      const size = await this.o.uploads.append(repo, id, req, opts);
      sendEmpty(res, 202, rangeHeaders(repo, id, size));
      return;
    }
    if (method === 'PUT') {
      const d = digestParam(url.searchParams.get('digest'));
      const body = hasBody(req);
      const opts = body ? this.chunkOptions(req, repo, id) : {};
      await this.o.uploads.status(repo, id);
      await this.o.uploads.finish(repo, id, d, body ? req : undefined, opts);
      sendEmpty(res, 201, { Location: `/v2/${repo}/blobs/${d}`, 'Docker-Content-Digest': d });
      return;
    }
    if (method === 'DELETE') {
      await this.o.uploads.cancel(repo, id);
      sendEmpty(res, 204);
      return;
    }
    throw unsupported(method);
  }

  private async manifest(req: IncomingMessage, res: ServerResponse, repo: string, ref: string, url: URL, baseUrl: string, outcome: RequestOutcome): Promise<void> {
    const method = req.method;
    const byDigest = ref.includes(':');
    if (byDigest) parseDigest(ref);
    else if (!isValidTag(ref)) {
      throw method === 'PUT'
        ? new RegistryHttpError('MANIFEST_INVALID', 'invalid tag', { tag: ref.slice(0, 200) })
        : new RegistryHttpError('MANIFEST_UNKNOWN', 'manifest unknown to registry', { reference: ref.slice(0, 200) });
    }
    if (method === 'GET' || method === 'HEAD') {
      await this.authorize(req, pull(repo), baseUrl, outcome);
      const m = await this.o.manifests.get(repo, ref);
      res.writeHead(200, { 'Content-Type': m.mediaType, 'Content-Length': m.content.length, 'Docker-Content-Digest': m.digest, ETag: `"${m.digest}"` });
      res.end(method === 'HEAD' ? undefined : m.content);
      return;
    }
    if (method === 'PUT') {
      await this.authorize(req, push(repo), baseUrl, outcome);
      const tags = byDigest ? tagParams(url) : [];
      const content = await readBounded(req, this.o.maxManifestBytes);
      const r = await this.o.manifests.put(repo, ref, content, req.headers['content-type'], tags);
      sendEmpty(res, 201, {
        Location: `/v2/${repo}/manifests/${r.digest}`,
        'Docker-Content-Digest': r.digest,
        ...(r.subject ? { 'OCI-Subject': r.subject } : {}),
        ...(tags.length ? { 'OCI-Tag': tags.join(', ') } : {}),
      });
      return;
    }
    if (method === 'DELETE') {
      await this.authorize(req, del(repo), baseUrl, outcome);
      await this.o.manifests.delete(repo, ref);
      sendEmpty(res, 202);
      return;
    }
    throw unsupported(method);
  }
}

/** Blobs smaller than this go through a stream: sendfile pays off on layers, not on configs. */
const SENDFILE_MIN = 1 << 20;
/** A client that takes nothing for this long is dropped. */
const SEND_IDLE_MS = 120_000;

/**
 * Sends a blob's bytes after the response head with sendfile(2): the kernel copies them from the
 * page cache to the socket, where a stream would read them into buffers and write them out again
 * (a GiB of pulls cost the server ~1 s of CPU that way). The head is flushed and written first;
 * the response is then ended without a body of its own, the Content-Length being already met.
 */
async function sendBody(res: ServerResponse, file: FileHandle, span: { start: number; end: number }): Promise<void> {
  const socket = res.socket as Socket;
  res.flushHeaders();
  try {
    // An empty write calls back once everything before it (the head, even from a corked socket) is out.
    await new Promise<void>((resolve, reject) => socket.write('', (e) => (e ? reject(e) : resolve())));
    await sendFileRange(socket, file.fd, span.start, span.end, { timeoutMs: SEND_IDLE_MS });
  } catch {
    // The head is out (a client gone, a reset): all that is left is to cut the connection; a
    // client that wants the rest asks again with a Range.
    socket.destroy();
    return;
  }
  res.end();
}

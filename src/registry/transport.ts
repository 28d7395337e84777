import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';
import { setFlagsFromString } from 'node:v8';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, type Dispatcher } from 'undici';
import { RegistryError } from './errors.js';
import { bulkRequest, canSendFile, type FileRange, type ResponseBody } from '../net/bulk-request.js';
import { deferredCaCertificates } from '../net/deferred-ca.js';

export type HttpMethod = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

/**
 * A body that can be sent again on retry: bytes, or a factory that opens a fresh stream or
 * iterable (undici pulls an iterable's next chunk only once the previous one is on the wire).
 */
export type RequestBody = Buffer | string | (() => Readable | Buffer | AsyncIterable<Uint8Array>);

export interface HttpRequest {
  method: HttpMethod;
  /** Absolute URL. */
  url: string;
  headers?: Record<string, string>;
  body?: RequestBody;
  signal?: AbortSignal;
  /** Set false for requests that must not be replayed blindly (e.g. a PATCH into an upload session). */
  retry?: boolean;
  /**
   * Bytes the response body may buffer before the socket is paused (undici's default is 64 KiB);
   * blob downloads use more so that a slow moment in the consumer does not stall the sender.
   */
  highWaterMark?: number;
  /** The size the response body is expected to have (a blob's), when known. */
  expectBytes?: number;
  /**
   * The body's bytes as a range of a file, when they are one: sent by sendfile where the
   * connection allows (plain HTTP), `body` is sent otherwise.
   */
  bodyFile?: FileRange;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: ResponseBody;
  url: string;
}

export interface TransportOptions {
  /** Registries (`host` or `host:port`) spoken to over plain HTTP, besides loopback. */
  insecureRegistries?: string[];
  /** Extra PEM CA certificates trusted for TLS registries, on top of Node's bundled roots. */
  ca?: string | Buffer;
  caFile?: string;
  /** Retries after the first attempt for connection errors, 429 and 5xx. */
  retries?: number;
  /** First backoff delay; doubles each attempt, with jitter, capped by maxBackoffMs. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Longest Retry-After honoured, so a hostile server cannot park us for hours. */
  maxRetryAfterMs?: number;
  /** Connections per registry origin. */
  connections?: number;
  /** Idle time allowed between body chunks before the request fails (and a download resumes). */
  bodyTimeoutMs?: number;
  /**
   * Blob transfers of at least this many bytes (GETs expecting that much, uploads of a file range
   * to a plain-HTTP registry) use a connection of their own (see bulkRequest) instead of undici's
   * pool. Default 1 MiB.
   */
  bulkMinBytes?: number;
  userAgent?: string;
}

/** A response as undici's pool or bulkRequest gives it. */
type RawResponse = Pick<Dispatcher.ResponseData, 'statusCode' | 'headers'> & { body: ResponseBody };

const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);

let wasmTierUpOff = false;

/**
 * undici parses HTTP in WebAssembly, and V8 recompiles that parser (one huge function) with its
 * optimising tier in the background soon after first use: ~30 MB of peak memory and a few hundred
 * ms of CPU, for code whose speed hardly matters here (a body passes through the parser without
 * per-byte work). Keeping the baseline (Liftoff) code avoids both. The flag is process-wide and
 * must be set before the first connection compiles the parser; tsbuild runs no other WebAssembly.
 */
function baselineWasmOnly(): void {
  if (wasmTierUpOff) return;
  setFlagsFromString('--liftoff-only');
  wasmTierUpOff = true;
}

/** Hosts always spoken to in plain HTTP, as docker does: loopback only. */
export function isLoopbackHost(host: string): boolean {
  const hostname = stripPort(host).toLowerCase();
  return hostname === 'localhost' || hostname === '::1' || /^127(?:\.\d{1,3}){3}$/.test(hostname);
}

/** `host:port` -> `host`, `[::1]:5000` -> `::1`. */
export function stripPort(host: string): string {
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']'));
  const colon = host.lastIndexOf(':');
  return colon >= 0 && host.indexOf(':') === colon ? host.slice(0, colon) : host;
}

/**
 * HTTP to registries: one undici Agent (a pool per origin), plain HTTP for loopback and insecure
 * registries, bounded retries with backoff on connection errors, 429 and 5xx honouring Retry-After.
 */
export class Transport {
  private readonly agent: Agent;
  private readonly insecure: Set<string>;
  readonly retries: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly userAgent: string;
  private readonly ca: string[] | undefined;
  private readonly bodyTimeoutMs: number;
  private readonly bulkMinBytes: number;

  constructor(opts: TransportOptions = {}) {
    baselineWasmOnly();
    const own = opts.ca ?? (opts.caFile ? readFileSync(opts.caFile) : undefined);
    const extra = [own?.toString(), deferredCaCertificates()].filter((c): c is string => c !== undefined);
    // Node's `ca` replaces the default roots; keep them so a private CA adds rather than narrows.
    this.ca = extra.length > 0 ? [...rootCertificates, ...extra] : undefined;
    this.bodyTimeoutMs = opts.bodyTimeoutMs ?? 120_000;
    this.bulkMinBytes = opts.bulkMinBytes ?? 1 << 20;
    this.agent = new Agent({
      connections: opts.connections ?? 16,
      keepAliveTimeout: 30_000,
      headersTimeout: 120_000,
      bodyTimeout: this.bodyTimeoutMs,
      ...(this.ca ? { connect: { ca: this.ca } } : {}),
    });
    this.insecure = new Set((opts.insecureRegistries ?? []).map((h) => h.toLowerCase()));
    this.retries = opts.retries ?? 5;
    this.backoffMs = opts.backoffMs ?? 250;
    this.maxBackoffMs = opts.maxBackoffMs ?? 10_000;
    this.maxRetryAfterMs = opts.maxRetryAfterMs ?? 60_000;
    this.userAgent = opts.userAgent ?? 'tsbuild';
  }

  /** `http://host` or `https://host` for a registry host (as contacted, e.g. registry-1.docker.io). */
  baseUrl(host: string): string {
    const h = host.toLowerCase();
    const plain = isLoopbackHost(h) || this.insecure.has(h) || this.insecure.has(stripPort(h));
    return `${plain ? 'http' : 'https'}://${host}`;
  }

  /**
   * Sends a request. Connection errors, 429 and 5xx are retried (when the request allows it)
   * up to `retries` times; the last 429/5xx response is returned for the caller to turn into an
   * error, the last connection error is thrown as a RegistryError naming the host.
   */
  async request(req: HttpRequest): Promise<HttpResponse> {
    const url = new URL(req.url);
    const canRetry = req.retry !== false;
    for (let attempt = 0; ; attempt++) {
      const last = !canRetry || attempt >= this.retries;
      let res: RawResponse;
      try {
        res = this.isBulk(req, url) ? await this.bulk(url, req) : await this.pooled(url, req);
      } catch (e) {
        if (req.signal?.aborted) throw req.signal.reason ?? e;
        // Our own body ended short of (or beyond) its Content-Length: a local fault, not worth retrying.
        const code = (e as { code?: string }).code;
        if (code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH' || code === 'ERR_FILE_SHORT') throw new Error(`${req.method} ${url.host}${url.pathname}: request body does not match its Content-Length`);
        if (last || !isConnectionError(e)) throw connectionError(url, e);
        await sleep(this.backoff(attempt), undefined, req.signal ? { signal: req.signal } : undefined);
        continue;
      }
      if (!last && RETRYABLE_STATUS.has(res.statusCode)) {
        const wait = this.retryAfter(res.headers['retry-after']) ?? this.backoff(attempt);
        await res.body.dump().catch(() => undefined);
        await sleep(wait, undefined, req.signal ? { signal: req.signal } : undefined);
        continue;
      }
      return { status: res.statusCode, headers: res.headers, body: res.body, url: url.href };
    }
  }

  private pooled(url: URL, req: HttpRequest): Promise<Dispatcher.ResponseData> {
    const body = typeof req.body === 'function' ? req.body() : req.body;
    return this.agent.request({
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      method: req.method,
      headers: { 'user-agent': this.userAgent, ...req.headers },
      // undici takes (async) iterables at runtime; its typings only list streams and bytes.
      ...(body !== undefined ? { body: body as Readable | Buffer | string } : {}),
      ...(req.signal ? { signal: req.signal } : {}),
      ...(req.highWaterMark ? { highWaterMark: req.highWaterMark } : {}),
    });
  }

  private isBulk(req: HttpRequest, url: URL): boolean {
    if (req.method === 'GET') return req.body === undefined && req.expectBytes !== undefined && req.expectBytes >= this.bulkMinBytes;
    const file = req.bodyFile;
    return file !== undefined && file.end - file.start + 1 >= this.bulkMinBytes && canSendFile(url);
  }

  private async bulk(url: URL, req: HttpRequest): Promise<RawResponse> {
    const res = await bulkRequest({
      url,
      method: req.method as 'GET' | 'PUT' | 'PATCH' | 'POST',
      headers: { 'user-agent': this.userAgent, ...req.headers },
      timeoutMs: this.bodyTimeoutMs,
      ...(req.method !== 'GET' && req.bodyFile ? { body: req.bodyFile } : {}),
      ...(this.ca ? { ca: this.ca } : {}),
      ...(req.signal ? { signal: req.signal } : {}),
    });
    return { statusCode: res.status, headers: res.headers, body: res.body };
  }

  backoff(attempt: number): number {
    const base = Math.min(this.maxBackoffMs, this.backoffMs * 2 ** attempt);
    return base / 2 + Math.random() * (base / 2);
  }

  private retryAfter(value: string | string[] | undefined): number | undefined {
    const v = Array.isArray(value) ? value[0] : value;
    if (!v) return undefined;
    const secs = Number(v);
    const ms = Number.isFinite(secs) ? secs * 1000 : Date.parse(v) - Date.now();
    if (!Number.isFinite(ms)) return undefined;
    return Math.max(0, Math.min(ms, this.maxRetryAfterMs));
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

const CONNECTION_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
]);

/** Whether an error is a transient network failure worth retrying. */
export function isConnectionError(e: unknown): boolean {
  const err = e as { code?: string; cause?: { code?: string } } | null;
  return !!err && (CONNECTION_CODES.has(err.code ?? '') || CONNECTION_CODES.has(err.cause?.code ?? ''));
}

function connectionError(url: URL, e: unknown): RegistryError {
  const err = e as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const why = err.cause?.code ?? err.code ?? err.cause?.message ?? err.message ?? String(e);
  const tls = /CERT|SSL|TLS|self.signed/i.test(`${why} ${err.message ?? ''}`);
  return new RegistryError(url.host, `${tls ? 'TLS failure' : 'cannot connect'} (${why})${tls ? '; pass a CA bundle or mark the registry insecure' : ''}`);
}

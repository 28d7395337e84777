import { open } from 'node:fs/promises';
import { isIP, connect as netConnect, type OnReadOpts, type Socket } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import { nativeSendfile } from '../native/sendfile.js';
import { sendFileRange } from './send-file.js';
import { type ResponseHead, ResponseParser } from './http1-response.js';
import { type Slab, SlabPool } from './slab-pool.js';

/** A request body that is a byte range of a file (`end` inclusive), sent without reading it. */
export interface FileRange {
  path: string;
  start: number;
  end: number;
  onBytes?: (n: number) => void;
}

export interface BulkRequestOptions {
  url: URL;
  method?: 'GET' | 'PUT' | 'PATCH' | 'POST';
  headers: Record<string, string>;
  /** Plain HTTP only, with the native sendfile module (see canSendFile). */
  body?: FileRange;
  /** Trusted CAs for https (Node's default roots when absent). */
  ca?: string[];
  signal?: AbortSignal;
  /** Idle time on the connection (while not paused by the consumer) before it fails. */
  timeoutMs: number;
}

/** What a response body offers its consumer; undici's body has the same members. */
export interface ResponseBody extends AsyncIterable<Buffer> {
  readonly readableEnded: boolean;
  readonly destroyed: boolean;
  dump(): Promise<void>;
  destroy(err?: Error): void;
  text(): Promise<string>;
}

export interface BulkResponse extends ResponseHead {
  body: ResponseBody;
}

/** Each read lands in a slab; a new one is started when less than MIN_READ is left of it. */
const pool = new SlabPool(1 << 20, 16);
const MIN_READ = 64 << 10;
/** Body bytes read but not taken by the consumer before the socket is paused. */
const HIGH_WATER = 2 << 20;

/** Whether bulkRequest can send a FileRange body to `url`: plain HTTP, with the native module. */
export function canSendFile(url: URL): boolean {
  return url.protocol === 'http:' && nativeSendfile() !== undefined;
}

/**
 * A request whose body (a blob going up) or response body (a blob coming down) may be gigabytes,
 * on a connection of its own that is closed afterwards.
 *
 * Coming down: Node's sockets hand every read over in a freshly allocated 64 KiB buffer; at a GiB
 * per second that allocation and its garbage collection cost more CPU than the rest of a pull
 * together (measured: ~1.3 s of CPU per GiB through undici, ~0.1 s here). Here the socket reads
 * straight into large slabs (its `onread` option) and the body is handed on as views of them,
 * adjacent reads merged, so a consumer sees few big chunks and nothing is copied. A consumer that
 * passes each chunk to `recycleBodyChunk` when done lets the slabs be reused. TLS works the same
 * way (Node decrypts into the slab).
 *
 * Going up: a FileRange body is moved from the page cache to the socket by sendfile(2) on the
 * thread pool (native/sendfile.c), in slices, after the head; nothing passes through JavaScript.
 * A response that arrives early (a refusal) stops the sending.
 *
 * Responses are parsed by ResponseParser. Resolves once the response head is in; rejects with the
 * socket's error (ECONNRESET, ETIMEDOUT...) when the connection fails before that, so callers can
 * retry as they would with any client.
 */
export async function bulkRequest(opts: BulkRequestOptions): Promise<BulkResponse> {
  const { url, body: file } = opts;
  const method = opts.method ?? 'GET';
  if (file && !canSendFile(url)) throw new Error(`cannot send a file body to ${url.protocol}//${url.host} without sendfile`);
  const head = requestHead(method, url, file ? { ...opts.headers, 'content-length': String(file.end - file.start + 1) } : opts.headers);
  const fh = file ? await open(file.path, 'r') : undefined;
  return new Promise((resolve, reject) => {
    const parser = new ResponseParser(method);
    let slab = pool.take();
    let settled = false;
    const onread: OnReadOpts = {
      buffer: () => {
        if (pool.slabBytes - slab.used < MIN_READ) {
          pool.seal(slab);
          slab = pool.take();
        }
        return slab.space();
      },
      callback: (n: number, buf: Uint8Array): boolean => {
        slab.used += n;
        const pieces: Buffer[] = [];
        try {
          parser.feed(Buffer.from(buf.buffer, buf.byteOffset, n), pieces);
        } catch (e) {
          socket.destroy(e as Error);
          return false;
        }
        if (!settled && parser.head) {
          settled = true;
          resolve({ ...parser.head, body });
        }
        for (const p of pieces) body.push(p, slab);
        if (parser.done) {
          body.finish();
          socket.destroy();
          return false;
        }
        return body.wantsMore();
      },
    };
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const tls = url.protocol === 'https:';
    const port = Number(url.port) || (tls ? 443 : 80);
    const socket: Socket = tls
      ? // tls.connect takes `onread` as net.connect does (Node's docs); @types/node omits it.
        tlsConnect({ host, port, onread, ALPNProtocols: ['http/1.1'], ...(isIP(host) ? {} : { servername: host }), ...(opts.ca ? { ca: opts.ca } : {}) } as ConnectionOptions)
      : netConnect({ host, port, onread });
    // The read callbacks above only run once connected, after this.
    const body = new BulkBody(socket);
    socket.setNoDelay(true);
    socket.setTimeout(opts.timeoutMs, () => socket.destroy(Object.assign(new Error(`no data from ${url.host} for ${opts.timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    const fail = (e: Error) => {
      body.fail(e);
      if (!settled) {
        settled = true;
        reject(e);
      }
    };
    socket.on('error', fail);
    socket.on('close', () => {
      pool.seal(slab);
      if (parser.done || parser.end()) {
        body.finish();
      } else {
        fail(Object.assign(new Error(`${url.host} closed the connection before the response ended`), { code: 'ECONNRESET' }));
      }
    });
    const onAbort = () => socket.destroy(opts.signal!.reason instanceof Error ? opts.signal!.reason : new Error('aborted'));
    socket.once('close', () => opts.signal?.removeEventListener('abort', onAbort));
    if (!fh) {
      socket.write(head);
    } else {
      // The head must be in the kernel before sendfile appends the body behind it.
      socket.write(head, (err) => {
        if (err) return;
        const sending = { stop: () => parser.head !== undefined, timeoutMs: opts.timeoutMs, ...(file!.onBytes ? { onBytes: file!.onBytes } : {}) };
        sendFileRange(socket, fh.fd, file!.start, file!.end, sending).catch((e: Error) => socket.destroy(e));
      });
      socket.once('close', () => void fh.close().catch(() => undefined));
    }
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Lets the slab under a chunk of a bulkRequest body be reused; the caller must not touch the chunk again. */
export function recycleBodyChunk(chunk: Uint8Array): void {
  pool.recycle(chunk);
}

function requestHead(method: string, url: URL, headers: Record<string, string>): string {
  const lines = [`${method} ${url.pathname}${url.search} HTTP/1.1`, `host: ${url.host}`];
  for (const [name, value] of Object.entries(headers)) {
    // A CR or LF in a value would start a header (or a request) of the value's choosing.
    if (/[\r\n]/.test(name + value)) throw new Error(`header ${name} contains a line break`);
    lines.push(`${name}: ${value}`);
  }
  lines.push('connection: close', '', '');
  return lines.join('\r\n');
}

/**
 * The body of a bulkRequest response: pieces queue as the socket reads them (a piece that continues
 * the previous one in the same slab extends it) and are taken by async iteration; the socket is
 * paused while too much waits and resumed once the consumer has caught up.
 */
class BulkBody implements ResponseBody {
  private queue: Buffer[] = [];
  private queued = 0;
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  private paused = false;
  private taken = false;
  readableEnded = false;
  destroyed = false;

  constructor(private readonly socket: Socket) {}

  /** After a read: false pauses the socket until the consumer has taken most of what waits. */
  wantsMore(): boolean {
    this.paused = this.queued >= HIGH_WATER;
    return !this.paused;
  }

  /** Queues a piece of `slab`, counted as out until its consumer recycles it. */
  push(piece: Buffer, slab: Slab): void {
    if (piece.length === 0) return;
    const last = this.queue.at(-1);
    if (last && last.buffer === piece.buffer && last.byteOffset + last.length === piece.byteOffset) {
      this.queue[this.queue.length - 1] = Buffer.from(last.buffer, last.byteOffset, last.length + piece.length);
    } else {
      this.queue.push(piece);
      slab.out++;
    }
    this.queued += piece.length;
    this.signal();
  }

  finish(): void {
    this.ended = true;
    this.signal();
  }

  fail(e: Error): void {
    // Once the body is complete, what the connection does next does not matter.
    if (this.ended) return;
    this.failure ??= e;
    this.signal();
  }

  private signal(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    if (this.taken) throw new Error('response body already read');
    this.taken = true;
    try {
      for (;;) {
        const piece = this.queue.shift();
        if (piece) {
          this.queued -= piece.length;
          if (this.paused && this.queued < HIGH_WATER / 4) {
            this.paused = false;
            this.socket.resume();
          }
          yield piece;
          continue;
        }
        if (this.failure) throw this.failure;
        if (this.ended) {
          this.readableEnded = true;
          return;
        }
        await new Promise<void>((r) => (this.wake = r));
      }
    } finally {
      if (!this.readableEnded) this.destroy();
    }
  }

  async dump(): Promise<void> {
    this.destroy();
  }

  async text(): Promise<string> {
    const parts: Buffer[] = [];
    for await (const p of this) parts.push(p);
    return Buffer.concat(parts).toString('utf8');
  }

  destroy(err?: Error): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.queue = [];
    this.queued = 0;
    this.failure ??= err ?? new Error('response body destroyed');
    this.socket.destroy();
    this.signal();
  }
}

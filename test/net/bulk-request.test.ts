import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bulkRequest, canSendFile } from '../../src/net/bulk-request.js';

const BIG = randomBytes(24 << 20);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

// A real node:http server: Content-Length and chunked bodies, written 1 MiB at a time.
describe('bulkRequest', () => {
  let server: Server;
  let base: string;
  const sockets = new Set<Socket>();
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/chunked') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
      } else if (req.url === '/cut') {
        res.writeHead(200, { 'content-length': String(BIG.length) });
        res.write(BIG.subarray(0, 3 << 20), () => res.socket?.destroy());
        return;
      } else if (req.url === '/silent') {
        return; // never answers
      } else {
        res.writeHead(200, { 'content-length': String(BIG.length), 'x-seen-auth': String(req.headers.authorization) });
      }
      let at = 0;
      const more = () => {
        while (at < BIG.length) {
          const part = BIG.subarray(at, (at += 1 << 20));
          if (!res.write(part)) return void res.once('drain', more);
        }
        res.end();
      };
      more();
    });
    server.on('connection', (s) => sockets.add(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });

  const get = (path: string, extra: { signal?: AbortSignal; timeoutMs?: number } = {}) =>
    bulkRequest({ url: new URL(path, base), headers: { authorization: 'Bearer t' }, timeoutMs: extra.timeoutMs ?? 10_000, ...(extra.signal ? { signal: extra.signal } : {}) });

  async function drain(body: AsyncIterable<Buffer>, pause = 0) {
    const parts: Buffer[] = [];
    for await (const c of body) {
      parts.push(Buffer.from(c));
      if (pause) await sleep(pause);
    }
    return Buffer.concat(parts);
  }

  it('delivers a Content-Length body exactly, with the request headers sent', async () => {
    const res = await get('/blob');
    expect(res.status).toBe(200);
    expect(res.headers['x-seen-auth']).toBe('Bearer t');
    expect(sha(await drain(res.body))).toBe(sha(BIG));
    expect(res.body.readableEnded).toBe(true);
  });

  it('decodes a chunked body', async () => {
    const res = await get('/chunked');
    expect(res.headers['transfer-encoding']).toBe('chunked');
    expect(sha(await drain(res.body))).toBe(sha(BIG));
  });

  it('pauses the socket for a slow consumer and resumes it, losing nothing', async () => {
    const res = await get('/blob');
    // Far slower than the server: the body would pile up in memory unless reading pauses.
    expect(sha(await drain(res.body, 20))).toBe(sha(BIG));
  });

  it('fails with ECONNRESET when the connection is cut mid-body', async () => {
    const res = await get('/cut');
    const err = await drain(res.body).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('ECONNRESET');
  });

  it('fails with ETIMEDOUT when the server says nothing', async () => {
    const err = await get('/silent', { timeoutMs: 200 }).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('ETIMEDOUT');
  });

  it('stops when aborted, with the abort reason', async () => {
    const ac = new AbortController();
    const res = await get('/blob', { signal: ac.signal });
    const it = res.body[Symbol.asyncIterator]();
    await it.next();
    ac.abort(new Error('stop now'));
    const err = await (async () => {
      for (;;) if ((await it.next()).done) return undefined;
    })().catch((e: unknown) => e);
    expect((err as Error).message).toBe('stop now');
  });

  it('refuses a header value with a line break before connecting', async () => {
    await expect(bulkRequest({ url: new URL('/x', base), headers: { 'x-evil': 'a\r\nhost: b' }, timeoutMs: 1000 })).rejects.toThrow(/line break/);
  });
});

describe('bulkRequest against a server that is not HTTP', () => {
  let server: NetServer;
  let port: number;
  beforeAll(async () => {
    server = createNetServer((s) => s.resume().end('SSH-2.0-OpenSSH_9.2\r\n\r\n'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('rejects with a parse error, not a retryable one', async () => {
    const err = await bulkRequest({ url: new URL(`http://127.0.0.1:${port}/`), headers: {}, timeoutMs: 1000 }).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('HPE_INVALID_RESPONSE');
  });
});

// Uploads: a file range sent by sendfile(2) (native/sendfile.c) after the head.
if (!canSendFile(new URL('http://x/'))) console.warn('bulkRequest file bodies: skipped, dist/native/sendfile.node is not built (npm run build)');
describe.skipIf(!canSendFile(new URL('http://x/')))('bulkRequest with a file body', () => {
  let server: Server;
  let base: string;
  let dir: string;
  let file: string;
  const DATA = randomBytes(20 << 20);
  const seen: { method: string; length: string | undefined; sha: string }[] = [];
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsbuild-sendfile-'));
    file = join(dir, 'blob');
    writeFileSync(file, DATA);
    server = createServer((req, res) => {
      if (req.url === '/refuse') {
        // Answers at once and stops reading, as a registry refusing an upload may.
        res.writeHead(413, { connection: 'close' }).end('too big');
        req.socket.destroy();
        return;
      }
      const h = createHash('sha256');
      req.on('data', (c: Buffer) => h.update(c));
      req.on('end', () => {
        seen.push({ method: req.method!, length: req.headers['content-length'], sha: h.digest('hex') });
        res.writeHead(201, { 'content-length': '2' }).end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends exactly the range, reporting progress, and reads the answer', async () => {
    let progress = 0;
    const [start, end] = [12345, (17 << 20) + 3];
    const res = await bulkRequest({ url: new URL('/up', base), method: 'PATCH', headers: {}, body: { path: file, start, end, onBytes: (n) => (progress += n) }, timeoutMs: 10_000 });
    expect(res.status).toBe(201);
    expect(await res.body.text()).toBe('ok');
    expect(seen.at(-1)).toEqual({ method: 'PATCH', length: String(end - start + 1), sha: sha(DATA.subarray(start, end + 1)) });
    expect(progress).toBe(end - start + 1);
  });

  it('stops sending when the server answers early, and gives its answer', async () => {
    const res = await bulkRequest({ url: new URL('/refuse', base), method: 'PUT', headers: {}, body: { path: file, start: 0, end: DATA.length - 1 }, timeoutMs: 10_000 }).catch((e: unknown) => e);
    // Either the refusal is read, or the connection is found reset first: both end the upload.
    if (res instanceof Error) expect((res as { code?: string }).code).toMatch(/ECONNRESET|EPIPE/);
    else expect((res as { status: number }).status).toBe(413);
  });

  it('fails with ERR_FILE_SHORT when the file is shorter than the range', async () => {
    const err = await bulkRequest({ url: new URL('/up', base), method: 'PUT', headers: {}, body: { path: file, start: 0, end: DATA.length + 99 }, timeoutMs: 10_000 }).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toMatch(/ERR_FILE_SHORT|ECONNRESET/);
  });

  it('refuses a file body over TLS, where sendfile cannot go', async () => {
    await expect(bulkRequest({ url: new URL('https://127.0.0.1:1/'), method: 'PUT', headers: {}, body: { path: file, start: 0, end: 9 }, timeoutMs: 1000 })).rejects.toThrow(/without sendfile/);
  });
});

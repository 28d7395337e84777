import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** What the proxy does with one request. */
export type Fault =
  | { kind: 'forward' }
  /** Close the connection without answering. */
  | { kind: 'drop' }
  /** Answer with this status (e.g. 503, 429) and an optional Retry-After. */
  | { kind: 'status'; status: number; retryAfter?: string }
  /** Forward, but cut the connection after `bytes` bytes of the response body. */
  | { kind: 'cut'; bytes: number }
  /** Forward with one body byte flipped (same length): content that does not match its digest. */
  | { kind: 'corrupt' }
  /** Forward without the request's Range header (a server that ignores ranges). */
  | { kind: 'ignore-range' };

export interface SeenRequest {
  method: string;
  url: string;
  range?: string;
  fault: Fault['kind'];
}

/**
 * A misbehaving HTTP proxy in front of a registry, for tests: each request gets the fault `plan`
 * chooses. The client's Host header is passed through, so the registry's Location headers point
 * back at the proxy.
 */
export async function startFlakyProxy(upstream: string, plan: (req: IncomingMessage, n: number) => Fault): Promise<{ host: string; seen: SeenRequest[]; close(): Promise<void> }> {
  const up = new URL(upstream);
  const seen: SeenRequest[] = [];
  const sockets = new Set<Socket>();
  let n = 0;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const fault = plan(req, n++);
    seen.push({ method: req.method ?? '', url: req.url ?? '', ...(req.headers.range ? { range: req.headers.range } : {}), fault: fault.kind });
    if (fault.kind === 'drop') {
      req.socket.destroy();
      return;
    }
    if (fault.kind === 'status') {
      req.resume();
      res.writeHead(fault.status, { 'content-type': 'application/json', ...(fault.retryAfter ? { 'retry-after': fault.retryAfter } : {}) });
      res.end(JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'injected failure' }] }));
      return;
    }
    const headers = { ...req.headers };
    if (fault.kind === 'ignore-range') delete headers.range;
    const out = request({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      let sent = 0;
      let flipped = false;
      ur.on('data', (chunk: Buffer) => {
        if (fault.kind === 'cut') {
          const room = fault.bytes - sent;
          if (room <= 0) return;
          const part = chunk.subarray(0, room);
          sent += part.length;
          res.write(part, () => {
            if (sent >= fault.bytes) {
              ur.destroy();
              res.socket?.destroy();
            }
          });
          return;
        }
        if (fault.kind === 'corrupt' && !flipped && chunk.length > 0) {
          const copy = Buffer.from(chunk);
          copy[copy.length - 1] ^= 0xff;
          flipped = true;
          res.write(copy);
          return;
        }
        res.write(chunk);
      });
      ur.on('end', () => res.end());
      ur.on('error', () => res.socket?.destroy());
    });
    out.on('error', () => res.socket?.destroy());
    req.pipe(out);
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

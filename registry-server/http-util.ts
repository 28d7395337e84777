import type { IncomingMessage, ServerResponse } from 'node:http';
import { RegistryHttpError } from './errors.js';

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}, head = false): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(head ? undefined : text);
}

export function sendEmpty(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Length': '0', ...headers });
  res.end();
}

/** Whether the client announced a body (length > 0 or chunked). */
export function hasBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  if (len !== undefined) return Number(len) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}

/** Content-Length as a number; undefined when absent; a SIZE_INVALID error when malformed. */
export function contentLength(req: IncomingMessage): number | undefined {
  const v = req.headers['content-length'];
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new RegistryHttpError('SIZE_INVALID', `invalid Content-Length ${JSON.stringify(v)}`);
  return Number(v);
}

/** Reads a bounded body (manifests): 413 SIZE_INVALID beyond `limit` bytes. */
export async function readBounded(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = contentLength(req);
  const tooBig = () => new RegistryHttpError('SIZE_INVALID', `body larger than ${limit} bytes`, { limit }, { status: 413 });
  if (declared !== undefined && declared > limit) throw tooBig();
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > limit) throw tooBig();
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Drains what is left of a request body so a keep-alive connection stays usable. */
export async function drain(req: IncomingMessage): Promise<void> {
  if (req.complete) return;
  for await (const _ of req) {
    // discard
  }
}

/** `bytes=a-b`, `bytes=a-`, `bytes=-n` against a size; 'invalid' when unsatisfiable, undefined to ignore. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'invalid' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return header.trim().startsWith('bytes=') && !header.includes(',') ? 'invalid' : undefined;
  const [, a, b] = m;
  if (a === '' && b === '') return 'invalid';
  let start: number;
  let end: number;
  if (a === '') {
    const n = Number(b);
    if (n === 0) return 'invalid';
    start = Math.max(size - n, 0);
    end = size - 1;
  } else {
    start = Number(a);
    end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
    if (b !== '' && Number(b) < start) return 'invalid';
  }
  if (start >= size) return 'invalid';
  return { start, end };
}

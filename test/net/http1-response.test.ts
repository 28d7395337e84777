import { describe, expect, it } from 'vitest';
import { ResponseParseError, ResponseParser } from '../../src/net/http1-response.js';

/** Feeds `raw` cut at `cut` (two reads), then closes; the head, the body and whether it completed. */
function parse(raw: string | Buffer, cut?: number, method = 'GET') {
  const data = Buffer.isBuffer(raw) ? raw : Buffer.from(raw, 'latin1');
  const p = new ResponseParser(method);
  const body: Buffer[] = [];
  const reads = cut === undefined ? [data] : [data.subarray(0, cut), data.subarray(cut)];
  for (const r of reads) if (!p.done) p.feed(r, body);
  const complete = p.done || p.end();
  return { head: p.head, body: Buffer.concat(body).toString('latin1'), complete, pieces: body };
}

/** Every way of cutting `raw` in two gives the same result as one read. */
function everyCut(raw: string, method?: string) {
  const whole = parse(raw, undefined, method);
  for (let cut = 1; cut < raw.length; cut++) expect(parse(raw, cut, method), `cut at ${cut}`).toEqual({ ...whole, pieces: expect.anything() });
  return whole;
}

describe('ResponseParser', () => {
  it('reads a Content-Length body exactly, whatever the reads, and ignores what follows it', () => {
    const r = everyCut('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\nx-a: 2\r\n\r\nhello');
    expect(r.head).toEqual({ status: 200, headers: { 'content-length': '5', 'x-a': ['1', '2'] } });
    expect(r.body).toBe('hello');
    expect(r.complete).toBe(true);
    expect(parse('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhello').body).toBe('he');
  });

  it('decodes chunked bodies with extensions and trailers', () => {
    const r = everyCut('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\nA\r\n, world!!!\r\n0\r\nX-Trailer: t\r\n\r\n');
    expect(r.body).toBe('hello, world!!!');
    expect(r.complete).toBe(true);
  });

  it('reads until the close when nothing frames the body, and knows a cut body from a whole one', () => {
    const r = everyCut('HTTP/1.0 200 OK\r\nServer: x\r\n\r\nall of it');
    expect(r.body).toBe('all of it');
    expect(r.complete).toBe(true);
    expect(parse('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort').complete).toBe(false);
    expect(parse('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel').complete).toBe(false);
    expect(parse('HTTP/1.1 200 OK\r\nContent-').complete).toBe(false);
  });

  it('has no body for 204, 304 and HEAD, and skips interim 1xx responses', () => {
    expect(parse('HTTP/1.1 204 No Content\r\n\r\n')).toMatchObject({ body: '', complete: true });
    expect(parse('HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n', undefined, 'HEAD')).toMatchObject({ body: '', complete: true });
    const r = everyCut('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 307 Temporary Redirect\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n');
    expect(r.head).toEqual({ status: 307, headers: { location: '/x', 'content-length': '0' } });
  });

  it('hands the body on as views of the buffers it was fed', () => {
    const data = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody');
    const { pieces } = parse(data);
    expect(pieces).toHaveLength(1);
    expect(pieces[0]!.buffer).toBe(data.buffer);
  });

  it.each([
    ['not HTTP', 'SSH-2.0-OpenSSH\r\n\r\n', /status line/],
    ['a header without a colon', 'HTTP/1.1 200 OK\r\nbroken\r\n\r\n', /header line/],
    ['conflicting lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx', /Content-Length/],
    ['a negative length', 'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', /Content-Length/],
    ['a bad chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', /chunk size/],
    ['a chunk longer than said', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n', /longer than its size/],
  ])('refuses %s', (_what, raw, message) => {
    expect(() => parse(raw)).toThrow(ResponseParseError);
    expect(() => parse(raw)).toThrow(message);
  });

  it('refuses a head that never ends instead of buffering it', () => {
    const p = new ResponseParser('GET');
    const line = Buffer.from(`X-Filler: ${'a'.repeat(1000)}\r\n`);
    p.feed(Buffer.from('HTTP/1.1 200 OK\r\n'), []);
    expect(() => {
      for (let i = 0; i < 100; i++) p.feed(line, []);
    }).toThrow(/longer than 65536 bytes/);
  });
});

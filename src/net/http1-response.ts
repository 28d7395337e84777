/** The status line and headers of an HTTP/1.x response (names in lower case). */
export interface ResponseHead {
  status: number;
  headers: Record<string, string | string[]>;
}

/** A response that does not parse: not a network failure, so not worth retrying. */
export class ResponseParseError extends Error {
  readonly code = 'HPE_INVALID_RESPONSE';
}

/** Longest head (status line and headers) accepted, and longest chunk-size or trailer line. */
const MAX_HEAD = 64 * 1024;
const MAX_LINE = 8 * 1024;

type State = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'trailers' | 'until-close' | 'done';

/**
 * An incremental parser for one HTTP/1.x response, on a connection that is closed after it: it is
 * fed what the socket reads and hands the body on as views of the fed buffers, never copying it
 * (that is the point: a blob of gigabytes passes through untouched). Framing follows RFC 9112
 * §6.3: no body for 1xx/204/304 and HEAD, chunked when Transfer-Encoding ends in chunked, else
 * Content-Length, else until the connection closes.
 */
export class ResponseParser {
  head: ResponseHead | undefined;
  private state: State = 'head';
  /** Bytes of a line (or of the head) that a read cut in two. */
  private partial: Buffer | undefined;
  /** Body bytes still due in the current Content-Length body or chunk. */
  private left = 0;

  constructor(private readonly method: string) {}

  get done(): boolean {
    return this.state === 'done';
  }

  /** Parses `data`; body pieces are appended to `body`. Throws ResponseParseError. */
  feed(data: Buffer, body: Buffer[]): void {
    let pos = 0;
    while (pos < data.length && this.state !== 'done') {
      switch (this.state) {
        case 'head': {
          const end = this.scan(data, pos, '\r\n\r\n', MAX_HEAD, 'response head');
          if (end === undefined) return;
          this.startBody(parseHead(end.text));
          pos = end.next;
          break;
        }
        case 'length':
        case 'chunk-data':
        case 'until-close': {
          const n = this.state === 'until-close' ? data.length - pos : Math.min(this.left, data.length - pos);
          body.push(data.subarray(pos, pos + n));
          pos += n;
          if (this.state === 'until-close') break;
          this.left -= n;
          if (this.left === 0) this.state = this.state === 'length' ? 'done' : 'chunk-end';
          break;
        }
        case 'chunk-size': {
          const line = this.scan(data, pos, '\r\n', MAX_LINE, 'chunk size');
          if (line === undefined) return;
          pos = line.next;
          const hex = line.text.split(';')[0]!.trim();
          if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) throw new ResponseParseError(`bad chunk size ${JSON.stringify(hex.slice(0, 20))}`);
          this.left = parseInt(hex, 16);
          this.state = this.left === 0 ? 'trailers' : 'chunk-data';
          break;
        }
        case 'chunk-end': {
          const line = this.scan(data, pos, '\r\n', 2, 'chunk end');
          if (line === undefined) return;
          if (line.text !== '') throw new ResponseParseError('chunk data longer than its size');
          pos = line.next;
          this.state = 'chunk-size';
          break;
        }
        case 'trailers': {
          const line = this.scan(data, pos, '\r\n', MAX_LINE, 'trailer');
          if (line === undefined) return;
          pos = line.next;
          if (line.text === '') this.state = 'done';
          break;
        }
      }
    }
  }

  /** The connection closed: whether the response was complete (a close-delimited body ends here). */
  end(): boolean {
    if (this.state === 'until-close') this.state = 'done';
    return this.state === 'done';
  }

  private startBody(head: ResponseHead): void {
    // Interim responses (100 Continue, 103 Early Hints) come before the real one.
    if (head.status < 200) return;
    this.head = head;
    const te = joined(head.headers['transfer-encoding']);
    const cl = head.headers['content-length'];
    if (this.method === 'HEAD' || head.status === 204 || head.status === 304) {
      this.state = 'done';
    } else if (te !== undefined) {
      this.state = /(?:^|,)\s*chunked\s*$/i.test(te) ? 'chunk-size' : 'until-close';
    } else if (cl !== undefined) {
      const values = new Set((Array.isArray(cl) ? cl : [cl]).flatMap((v) => v.split(',')).map((v) => v.trim()));
      const [only] = values;
      if (values.size !== 1 || !/^\d{1,15}$/.test(only!)) throw new ResponseParseError(`bad Content-Length ${JSON.stringify(joined(cl))}`);
      this.left = Number(only);
      this.state = this.left === 0 ? 'done' : 'length';
    } else {
      this.state = 'until-close';
    }
  }

  /**
   * Finds `delimiter` from `pos`, joining what an earlier read left; the text before it and where
   * the data after it starts, or undefined (the rest is kept) when it is not there yet.
   */
  private scan(data: Buffer, pos: number, delimiter: string, max: number, what: string): { text: string; next: number } | undefined {
    const before = this.partial?.length ?? 0;
    const joinedData = this.partial ? Buffer.concat([this.partial, data.subarray(pos)]) : data.subarray(pos);
    // Start where a delimiter split by the previous read could begin.
    const at = joinedData.indexOf(delimiter, Math.max(0, before - delimiter.length + 1), 'latin1');
    if (at < 0 || at > max) {
      if (joinedData.length > max) throw new ResponseParseError(`${what} longer than ${max} bytes`);
      this.partial = Buffer.from(joinedData);
      return undefined;
    }
    this.partial = undefined;
    return { text: joinedData.toString('latin1', 0, at), next: pos + at + delimiter.length - before };
  }
}

function parseHead(text: string): ResponseHead {
  const lines = text.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0]!);
  if (!status) throw new ResponseParseError(`not an HTTP/1.1 status line: ${JSON.stringify(lines[0]!.slice(0, 40))}`);
  const headers: Record<string, string | string[]> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0 || /[\s]/.test(line.slice(0, colon))) throw new ResponseParseError(`bad header line ${JSON.stringify(line.slice(0, 40))}`);
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    const seen = headers[name];
    headers[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  return { status: Number(status[1]), headers };
}

function joined(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}

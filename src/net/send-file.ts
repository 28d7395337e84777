import type { Socket } from 'node:net';
import { nativeSendfile } from '../native/sendfile.js';

/**
 * A file range goes out in sendfile calls of at most this much: progress is reported, and an abort
 * or an early answer is noticed, between calls (on a slow link a call lasts slice / bandwidth).
 */
const SLICE = 8 << 20;
/** Longest one call waits on a full socket before control comes back. */
const WAIT_MS = 250;

export interface SendFileOptions {
  /** Checked before each slice: true stops the sending (a response came, the client left). */
  stop?: () => boolean;
  /** Longest time without a byte going out before the sending fails with ETIMEDOUT. */
  timeoutMs: number;
  onBytes?: (n: number) => void;
}

/**
 * Whether `socket` can take a file by sendfile(2): the native module is built and the socket is a
 * plain TCP one (TLS encrypts in Node, so its bytes must pass through Node).
 */
export function canSendFileTo(socket: Socket): boolean {
  return nativeSendfile() !== undefined && !(socket as { encrypted?: boolean }).encrypted && socketFd(socket) !== undefined;
}

/**
 * Moves `[start, end]` (inclusive) of the open file `fd` to `socket` with sendfile(2) on the
 * thread pool (native/sendfile.c): the kernel copies from the page cache to the socket and nothing
 * passes through JavaScript. Whatever the socket had queued must be written first (the caller
 * waits for its write callback or 'drain'). Node does not see these writes, so the socket's idle
 * timer is re-armed as bytes go. Rejects with the native error (EPIPE, ECONNRESET, ERR_FILE_SHORT
 * when the file ends before the range) or ETIMEDOUT.
 */
export async function sendFileRange(socket: Socket, fd: number, start: number, end: number, opts: SendFileOptions): Promise<void> {
  const native = nativeSendfile();
  const out = socketFd(socket);
  if (!native || out === undefined) throw new Error('sendfile is not available for this socket');
  const length = end - start + 1;
  let sent = 0;
  let idleSince = Date.now();
  // Checked right before each call, on the main thread: the descriptor is still open when the
  // native side duplicates it (see native/sendfile.c).
  while (sent < length && !socket.destroyed && !opts.stop?.()) {
    const n = await native.sendfile(out, fd, start + sent, Math.min(SLICE, length - sent), WAIT_MS);
    if (n > 0) {
      sent += n;
      idleSince = Date.now();
      if (socket.timeout) socket.setTimeout(socket.timeout);
      opts.onBytes?.(n);
    } else if (Date.now() - idleSince > opts.timeoutMs) {
      throw Object.assign(new Error(`sending stalled for ${opts.timeoutMs} ms`), { code: 'ETIMEDOUT' });
    }
  }
}

function socketFd(socket: Socket): number | undefined {
  // A TCP socket's handle exposes its descriptor on Unix (undocumented but long-standing).
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

import { loadNative } from './load.js';

/** native/sendfile.c: sendfile(2) from a file to a (non-blocking) socket, on the thread pool. */
export interface NativeSendfile {
  /**
   * Sends up to `count` bytes of `inFd` from `offset` to `outFd`, waiting at most `waitMs` at a
   * time for room in the socket; resolves with the bytes sent (fewer when the socket stayed full).
   * Rejects with a coded error (EPIPE, ECONNRESET, ERR_FILE_SHORT when the file ends first).
   */
  sendfile(outFd: number, inFd: number, offset: number, count: number, waitMs: number): Promise<number>;
}

/** The native sendfile module, or undefined without it (see loadNative). */
export function nativeSendfile(): NativeSendfile | undefined {
  return loadNative<NativeSendfile>('sendfile');
}

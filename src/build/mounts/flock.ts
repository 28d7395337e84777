import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Advisory file locks (flock(2)) that other processes respect and that die with their holder.
 *
 * Node has no flock, so a tiny `sh` holds the lock for us: it opens the lock file on fd 3, runs
 * `flock(1)` on that fd (the lock belongs to the open file description, which `sh` keeps), says
 * "locked", then becomes `cat` reading our pipe. Closing the pipe ends `cat` and releases the lock;
 * if this process crashes, the pipe closes all the same, so a lock is never left stale on disk.
 */
export interface FileLock {
  readonly path: string;
  readonly mode: LockMode;
  /** Releases the lock and waits for the holder to exit. Idempotent. */
  release(): Promise<void>;
}

export type LockMode = 'shared' | 'exclusive';

export class LockError extends Error {
  override name = 'LockError';
}

export interface LockOptions {
  /** Wait for the lock (default) or give up at once when someone else holds a conflicting one. */
  wait?: boolean;
  /** Aborting a wait rejects with the signal's reason (or an AbortError). */
  signal?: AbortSignal;
}

const SCRIPT = 'exec 3>>"$1" || exit 3; flock $2 3 || exit 1; echo locked; exec cat';

/** Takes `mode` on `path` (created if missing). Resolves undefined when `wait: false` and it is taken. */
export async function lockFile(path: string, mode: LockMode, opts: LockOptions = {}): Promise<FileLock | undefined> {
  const wait = opts.wait ?? true;
  opts.signal?.throwIfAborted();
  await mkdir(dirname(path), { recursive: true });
  const flags = `${mode === 'shared' ? '-s' : '-x'}${wait ? '' : ' -n'}`;
  const child = spawn('sh', ['-c', SCRIPT, 'sh', path, flags], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.on('error', () => undefined);
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
  const acquired = await new Promise<boolean>((resolve, reject) => {
    let out = '';
    const onAbort = () => {
      child.kill('SIGKILL');
      reject(opts.signal!.reason ?? new DOMException('aborted', 'AbortError'));
    };
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.startsWith('locked\n')) {
        opts.signal?.removeEventListener('abort', onAbort);
        resolve(true);
      }
    });
    child.on('error', (e) => {
      opts.signal?.removeEventListener('abort', onAbort);
      reject(new LockError(`cannot lock ${path}: ${e.message}`));
    });
    void exited.then((code) => {
      opts.signal?.removeEventListener('abort', onAbort);
      if (code === 1 && !wait) resolve(false);
      else reject(new LockError(`cannot lock ${path}: ${stderr.trim().split('\n')[0] || `exit ${code}`}`));
    });
  });
  if (!acquired) return undefined;
  let released: Promise<void> | undefined;
  return {
    path,
    mode,
    release() {
      released ??= (async () => {
        child.stdin.end();
        await exited;
      })();
      return released;
    },
  };
}

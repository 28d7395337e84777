import { randomUUID } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Digest, type DigestAlgorithm, parseDigest } from '../src/image/digest.js';
import { type StreamHash, streamHash } from '../src/store/stream-hash.js';
import type { RepoBlobStore } from './blob-store.js';
import { RegistryHttpError } from './errors.js';
import { uploadDataPath, uploadsPath, uploadStartedPath } from './layout.js';
import { isNotFound, type StorageDriver } from './storage/driver.js';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isUploadId(id: string): boolean {
  return UUID_RE.test(id);
}

/**
 * A session's running sha256 over the bytes on disk, so a chunk costs only its own bytes. It is
 * computed on the thread pool where it can be (see streamHash): hashing was most of what the
 * server's one JavaScript thread did during an upload.
 */
interface SessionState {
  hash: StreamHash;
  size: number;
}

/** Bytes a chunk may run ahead of its hash before the body is paused. */
const MAX_HASH_BACKLOG = 2 << 20;

export interface AppendOptions {
  /** First byte offset the client claims (Content-Range); must equal the current size. */
  start?: number;
  /** Bytes the client claims to send; a different count rejects the chunk. */
  length?: number;
}

/**
 * Upload sessions (`/repositories/<repo>/_uploads/<uuid>`): chunks append to one file, checked for
 * order, hashed as they stream. Nothing is visible as a blob before `finish` verifies the digest
 * and moves the file into place; a chunk that fails midway is cut back off, so the session stays
 * resumable and consistent with its hash.
 */
export class UploadStore {
  private readonly states = new Map<string, SessionState>();
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly driver: StorageDriver,
    private readonly blobs: RepoBlobStore,
  ) {}

  /** Upload ids are local to a repository, so the session key holds both. */
  private key(repo: string, id: string): string {
    return `${repo}\n${id}`;
  }

  /** Runs session operations one at a time: concurrent PATCHes on one upload must not interleave. */
  private async locked<T>(repo: string, id: string, fn: () => Promise<T>): Promise<T> {
    const k = this.key(repo, id);
    const prev = this.locks.get(k) ?? Promise.resolve();
    const run = prev.catch(() => undefined).then(fn);
    const tail = run.catch(() => undefined);
    this.locks.set(k, tail);
    try {
      return await run;
    } finally {
      if (this.locks.get(k) === tail) this.locks.delete(k);
    }
  }

  async start(repo: string): Promise<string> {
    const id = randomUUID();
    // Locked: a purge running now must not take the half-created session for an abandoned one.
    await this.locked(repo, id, async () => {
      await this.driver.putContent(uploadStartedPath(repo, id), Buffer.from(new Date().toISOString()));
      this.states.set(this.key(repo, id), { hash: streamHash('sha256'), size: 0 });
    });
    return id;
  }

  private unknown(id: string): RegistryHttpError {
    return new RegistryHttpError('BLOB_UPLOAD_UNKNOWN', 'blob upload unknown to registry', { uuid: id });
  }

  private async diskSize(repo: string, id: string): Promise<number> {
    try {
      await this.driver.stat(uploadStartedPath(repo, id));
    } catch (e) {
      if (isNotFound(e)) throw this.unknown(id);
      throw e;
    }
    try {
      return (await this.driver.stat(uploadDataPath(repo, id))).size;
    } catch (e) {
      if (isNotFound(e)) return 0;
      throw e;
    }
  }

  /** The running hash, rebuilt from the partial file when the server restarted mid-upload. */
  private async state(repo: string, id: string): Promise<SessionState> {
    const size = await this.diskSize(repo, id);
    const k = this.key(repo, id);
    const known = this.states.get(k);
    if (known && known.size === size) return known;
    const fresh: SessionState = { hash: await this.hashFile(uploadDataPath(repo, id), 'sha256', size), size };
    this.states.set(k, fresh);
    return fresh;
  }

  private async hashFile(path: string, algorithm: DigestAlgorithm, size: number): Promise<StreamHash> {
    const hash = streamHash(algorithm);
    if (size === 0) return hash;
    const r = await this.driver.reader(path, { start: 0, end: size - 1 });
    for await (const chunk of r) {
      hash.update(chunk as Buffer);
      if (hash.backlog() > MAX_HASH_BACKLOG) await hash.drain(MAX_HASH_BACKLOG / 2);
    }
    return hash;
  }

  async status(repo: string, id: string): Promise<number> {
    return this.locked(repo, id, () => this.diskSize(repo, id));
  }

  async append(repo: string, id: string, body: Readable, opts: AppendOptions = {}): Promise<number> {
    return this.locked(repo, id, () => this.appendUnlocked(repo, id, body, opts));
  }

  private async appendUnlocked(repo: string, id: string, body: Readable, opts: AppendOptions): Promise<number> {
    const state = await this.state(repo, id);
    if (opts.start !== undefined && opts.start !== state.size) {
      throw new RegistryHttpError('BLOB_UPLOAD_INVALID', `chunk starts at ${opts.start} but the upload has ${state.size} bytes`, undefined, {
        status: 416,
        headers: rangeHeaders(repo, id, state.size),
      });
    }
    const writer = await this.driver.writer(uploadDataPath(repo, id));
    const before = await state.hash.copy();
    let n = 0;
    const hash = state.hash;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        // The hash holds the chunk until it is hashed: body chunks are never reused by Node.
        hash.update(chunk);
        n += chunk.length;
        if (hash.backlog() <= MAX_HASH_BACKLOG) return cb(null, chunk);
        hash.drain(MAX_HASH_BACKLOG / 2).then(() => cb(null, chunk), cb);
      },
    });
    try {
      if (writer.startSize !== state.size) throw new Error(`upload ${id} changed on disk while in use`);
      await pipeline(body, tap, writer.stream);
      if (opts.length !== undefined && n !== opts.length) {
        throw new RegistryHttpError('SIZE_INVALID', `chunk has ${n} bytes, ${opts.length} announced`);
      }
      await writer.commit();
    } catch (e) {
      await writer.cancel();
      state.hash = before;
      throw e;
    }
    state.size += n;
    return state.size;
  }

  /**
   * Appends the last bytes (if any), verifies the whole upload against `digest` and commits it as
   * a blob linked into `repo`. On a mismatch the session is dropped and nothing is stored.
   */
  async finish(repo: string, id: string, d: Digest, body?: Readable, opts: AppendOptions = {}): Promise<number> {
    return this.locked(repo, id, async () => {
      if (body) await this.appendUnlocked(repo, id, body, opts);
      const state = await this.state(repo, id);
      const { algorithm, hex } = parseDigest(d);
      // A copy: the session keeps its running hash should this PUT fail.
      const hash = algorithm === 'sha256' ? await state.hash.copy() : await this.hashFile(uploadDataPath(repo, id), algorithm, state.size);
      const actual = await hash.hex();
      if (actual !== hex) {
        await this.drop(repo, id);
        throw new RegistryHttpError('DIGEST_INVALID', 'provided digest did not match uploaded content', { expected: d, actual: `${algorithm}:${actual}` });
      }
      if (state.size === 0) await this.driver.putContent(uploadDataPath(repo, id), Buffer.alloc(0));
      await this.blobs.commit(uploadDataPath(repo, id), d);
      await this.blobs.link(repo, d);
      await this.drop(repo, id);
      return state.size;
    });
  }

  async cancel(repo: string, id: string): Promise<void> {
    return this.locked(repo, id, async () => {
      await this.diskSize(repo, id);
      await this.drop(repo, id);
    });
  }

  private async drop(repo: string, id: string): Promise<void> {
    this.states.delete(this.key(repo, id));
    await this.driver.delete(`${uploadsPath(repo)}/${id}`);
  }

  private async modTime(path: string): Promise<number | undefined> {
    try {
      return (await this.driver.stat(path)).modTime.getTime();
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  /**
   * When a session was last used: its files' times, or, while none is written yet (perhaps by
   * another process on the same storage), its directory's. Undefined once it is gone.
   */
  private async lastActivity(repo: string, id: string): Promise<number | undefined> {
    let last: number | undefined;
    for (const p of [uploadStartedPath(repo, id), uploadDataPath(repo, id)]) {
      const t = await this.modTime(p);
      if (t !== undefined) last = Math.max(last ?? 0, t);
    }
    return last ?? this.modTime(`${uploadsPath(repo)}/${id}`);
  }

  /** Deletes sessions of `repo` idle for longer than `maxIdleMs`; returns how many. */
  async purge(repo: string, maxIdleMs: number, now = Date.now()): Promise<number> {
    let n = 0;
    for (const id of await this.driver.list(uploadsPath(repo))) {
      if (!isUploadId(id) || this.locks.has(this.key(repo, id))) continue;
      const last = await this.lastActivity(repo, id);
      if (last !== undefined && now - last > maxIdleMs) {
        await this.locked(repo, id, () => this.drop(repo, id));
        n++;
      }
    }
    return n;
  }
}

/** Location, Range and Docker-Upload-UUID: what every upload response tells the client. */
export function rangeHeaders(repo: string, id: string, size: number): Record<string, string> {
  return {
    Location: `/v2/${repo}/blobs/uploads/${id}`,
    Range: `0-${Math.max(size - 1, 0)}`,
    'Docker-Upload-UUID': id,
  };
}

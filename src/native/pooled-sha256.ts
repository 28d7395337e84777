import { loadNative } from './load.js';

/** native/sha256.c: sha256 updates run as async work on libuv's thread pool. */
interface NativeSha256 {
  create(): object;
  /** Resolves once every chunk is hashed; one update at a time per hasher. */
  update(hasher: object, chunks: Uint8Array[]): Promise<void>;
  digest(hasher: object): Buffer;
  /** A new hasher in the same state; no update may be running. */
  copy(hasher: object): object;
}

/** The native sha256 module, or undefined without it (see loadNative). */
export function nativeSha256(): NativeSha256 | undefined {
  return loadNative<NativeSha256>('sha256');
}

/** Bytes gathered before a batch goes to the pool: a batch costs a round trip of ~15 µs. */
const MIN_BATCH = 256 << 10;

/**
 * A sha256 fed from the main thread and computed on the thread pool: update() queues the chunk
 * (held, not copied: the caller must not reuse it) and returns at once; chunks go to the pool in
 * batches of MIN_BATCH or more, those that arrive meanwhile in the next. backlog() says how many
 * bytes wait, so that a writer can stop reading when hashing falls behind.
 */
export class PooledSha256 {
  private readonly hasher: object;
  private queue: Uint8Array[] = [];
  private waiting = 0;
  private running: Promise<void> | undefined;
  private failure: unknown;

  constructor(
    private readonly native: NativeSha256,
    from?: object,
  ) {
    this.hasher = from ? native.copy(from) : native.create();
  }

  update(chunk: Uint8Array): void {
    this.queue.push(chunk);
    this.waiting += chunk.length;
    if (!this.running && this.waiting >= MIN_BATCH) this.next();
  }

  /** Bytes queued or being hashed. */
  backlog(): number {
    return this.waiting;
  }

  /** Resolves when the backlog is at most `bytes` (or hashing failed: hex() reports it). */
  async drain(bytes = 0): Promise<void> {
    while (this.waiting > bytes && !this.failure) {
      if (!this.running) this.next();
      await this.running;
    }
  }

  /** A hasher in the state this one reaches once everything updated so far is hashed. */
  async copy(): Promise<PooledSha256> {
    await this.drain();
    if (this.failure) throw this.failure;
    return new PooledSha256(this.native, this.hasher);
  }

  /** The hex digest of everything updated, once it is all hashed. */
  async hex(): Promise<string> {
    await this.drain();
    if (this.failure) throw this.failure;
    return this.native.digest(this.hasher).toString('hex');
  }

  private next(): void {
    const batch = this.queue;
    this.queue = [];
    let bytes = 0;
    for (const c of batch) bytes += c.length;
    this.running = this.native.update(this.hasher, batch).then(
      () => {
        this.waiting -= bytes;
        this.running = undefined;
        if (this.waiting >= MIN_BATCH && !this.failure) this.next();
      },
      (e: unknown) => {
        this.failure ??= e;
        this.running = undefined;
      },
    );
  }
}

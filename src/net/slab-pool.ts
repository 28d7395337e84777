/**
 * A big buffer that socket reads land in, one after the other. `out` counts the chunks cut from it
 * that a consumer still holds; once the reader has moved on (`sealed`) and none is out, the slab
 * can be filled again.
 */
export class Slab {
  used = 0;
  out = 0;
  sealed = false;
  constructor(readonly buf: Buffer) {}

  /** Where the next read goes. */
  space(): Buffer {
    return this.buf.subarray(this.used);
  }
}

/**
 * Slabs for bulk downloads, reused instead of reallocated. Allocating a GiB of buffers is what
 * costs: every 64 MB of new ArrayBuffers makes V8 run a full mark of its heap, which for a 1 GiB
 * pull came to ~0.7 s of CPU on the GC's threads (measured with perf). With consumers recycling
 * what they are done with, a pull runs on a few dozen slabs. A chunk that is never recycled is
 * harmless: its slab is simply left to the garbage collector (the pool holds only free slabs).
 */
export class SlabPool {
  private readonly free: Slab[] = [];
  private readonly owners = new WeakMap<ArrayBufferLike, Slab>();

  constructor(
    readonly slabBytes: number,
    private readonly keep: number,
  ) {}

  take(): Slab {
    const slab = this.free.pop() ?? new Slab(Buffer.allocUnsafeSlow(this.slabBytes));
    slab.used = 0;
    slab.out = 0;
    slab.sealed = false;
    this.owners.set(slab.buf.buffer, slab);
    return slab;
  }

  /** No more reads go into `slab`; it is reused once every chunk cut from it is recycled. */
  seal(slab: Slab): void {
    slab.sealed = true;
    this.reuseIfIdle(slab);
  }

  /**
   * A consumer is done with `chunk` (a view of a slab, as handed out, or part of one). Chunks that
   * did not come from this pool are ignored.
   */
  recycle(chunk: Uint8Array): void {
    const slab = this.owners.get(chunk.buffer);
    if (!slab || slab.out === 0) return;
    slab.out--;
    this.reuseIfIdle(slab);
  }

  private reuseIfIdle(slab: Slab): void {
    if (!slab.sealed || slab.out > 0) return;
    this.owners.delete(slab.buf.buffer);
    if (this.free.length < this.keep) this.free.push(slab);
  }
}

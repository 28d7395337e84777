/**
 * Build progress as BuildKit reports it: vertices (`#N [stage 2/5] RUN ...`) that start, print
 * output, and finish DONE, CACHED or ERROR. Renderers (plain, tty, json) consume these events.
 */
export type ProgressEvent =
  | { type: 'start'; id: number; name: string; time: number }
  | { type: 'cached'; id: number; name: string; time: number }
  | { type: 'log'; id: number; time: number; stream: 'stdout' | 'stderr'; data: string }
  | { type: 'done'; id: number; time: number }
  | { type: 'error'; id: number; time: number; message: string }
  | { type: 'finish'; time: number; ok: boolean };

export interface ProgressSink {
  event(e: ProgressEvent): void;
  /** Flushes and stops any redraw timer. */
  close(): void;
}

/** Hands out vertex numbers and timestamps; the executor talks to this, renderers listen. */
export class Progress {
  private next = 1;
  readonly started = Date.now();
  private total = 0;
  private completed = 0;

  constructor(private readonly sink: ProgressSink) {}

  vertex(name: string): Vertex {
    this.total++;
    return new Vertex(this, this.next++, name);
  }

  emit(e: ProgressEvent): void {
    if (e.type === 'done' || e.type === 'cached') this.completed++;
    this.sink.event(e);
  }

  finish(ok: boolean): void {
    this.sink.event({ type: 'finish', time: Date.now(), ok });
    this.sink.close();
  }

  counts(): { total: number; completed: number } {
    return { total: this.total, completed: this.completed };
  }
}

export class Vertex {
  private ended = false;
  constructor(
    private readonly p: Progress,
    readonly id: number,
    readonly name: string,
  ) {}

  start(): this {
    this.p.emit({ type: 'start', id: this.id, name: this.name, time: Date.now() });
    return this;
  }

  cached(): void {
    this.ended = true;
    this.p.emit({ type: 'cached', id: this.id, name: this.name, time: Date.now() });
  }

  log(stream: 'stdout' | 'stderr', data: string): void {
    if (!this.ended) this.p.emit({ type: 'log', id: this.id, time: Date.now(), stream, data });
  }

  done(): void {
    if (this.ended) return;
    this.ended = true;
    this.p.emit({ type: 'done', id: this.id, time: Date.now() });
  }

  error(message: string): void {
    if (this.ended) return;
    this.ended = true;
    this.p.emit({ type: 'error', id: this.id, time: Date.now(), message });
  }
}

/** Seconds as BuildKit prints them: `0.3s`. */
export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

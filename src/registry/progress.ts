import type { Writable } from 'node:stream';

/** Per-blob progress events from pull, push and copy; the CLI renders them. */
export interface Progress {
  /** A blob starts transferring (`total` in bytes when known). */
  start(id: string, total?: number): void;
  advance(id: string, bytes: number): void;
  /** A blob is finished: `Pull complete`, `Already exists`, `Mounted from x`, `Pushed`... */
  done(id: string, status: string): void;
  /** Stops redrawing; later lines print plainly. */
  close(): void;
}

export const silentProgress: Progress = { start() {}, advance() {}, done() {}, close() {} };

/** `sha256:abcdef123456...` -> `abcdef123456`, docker's short layer id. */
export function shortId(id: string): string {
  const colon = id.indexOf(':');
  return id.slice(colon + 1, colon + 13);
}

/** One line per blob when it finishes: for logs and pipes, where redrawing would be noise. */
export class LineProgress implements Progress {
  constructor(private readonly out: Writable) {}
  start(): void {}
  advance(): void {}
  done(id: string, status: string): void {
    this.out.write(`${shortId(id)}: ${status}\n`);
  }
  close(): void {}
}

interface Row {
  id: string;
  total?: number;
  done: number;
  status?: string;
}

/** A live table on a terminal: one line per blob with bytes and a bar, redrawn a few times a second. */
export class TtyProgress implements Progress {
  private readonly rows: Row[] = [];
  private readonly byId = new Map<string, Row>();
  private drawn = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly out: Writable & { columns?: number },
    private readonly verb = 'Downloading',
  ) {}

  start(id: string, total?: number): void {
    this.row(id).total = total;
    this.schedule();
  }

  advance(id: string, bytes: number): void {
    this.row(id).done += bytes;
    this.schedule();
  }

  done(id: string, status: string): void {
    this.row(id).status = status;
    this.schedule();
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.draw();
  }

  private row(id: string): Row {
    let r = this.byId.get(id);
    if (!r) {
      r = { id, done: 0 };
      this.byId.set(id, r);
      this.rows.push(r);
    }
    return r;
  }

  private schedule(): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.draw();
    }, 100);
    this.timer.unref?.();
  }

  private draw(): void {
    const width = Math.max(40, (this.out.columns ?? 80) - 1);
    let text = this.drawn > 0 ? `\x1b[${this.drawn}A` : '';
    for (const r of this.rows) {
      let line = `${shortId(r.id)}: `;
      if (r.status) line += r.status;
      else if (r.total) {
        const frac = Math.min(1, r.done / r.total);
        const bar = 30;
        const filled = Math.round(frac * bar);
        line += `${this.verb} [${'='.repeat(Math.max(0, filled - 1))}${filled > 0 ? '>' : ''}${' '.repeat(bar - filled)}] ${human(r.done)}/${human(r.total)}`;
      } else line += `${this.verb} ${human(r.done)}`;
      text += `\x1b[2K${line.slice(0, width)}\n`;
    }
    this.drawn = this.rows.length;
    this.out.write(text);
  }
}

export function human(n: number): string {
  if (n < 1000) return `${n}B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)}${units[i]}`;
}

/** The renderer a command should use for `out`. */
export function progressFor(out: Writable & { isTTY?: boolean; columns?: number }, verb: string): Progress {
  return out.isTTY ? new TtyProgress(out, verb) : new LineProgress(out);
}

import type { Writable } from 'node:stream';
import { type ProgressEvent, type ProgressSink, seconds } from './events.js';

interface Row {
  id: number;
  name: string;
  start: number;
  end?: number;
  state: 'running' | 'done' | 'cached' | 'error';
  lines: string[];
}

/**
 * The live display of `docker build` on a terminal: `[+] Building 1.2s (5/8)`, one line per step
 * with its time, and the last few output lines of running steps; redrawn in place.
 */
export class TtyRenderer implements ProgressSink {
  private rows: Row[] = [];
  private drawn = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly begun = Date.now();
  private finished: { ok: boolean; time: number } | undefined;

  constructor(private readonly out: Writable & { columns?: number }) {
    this.timer = setInterval(() => this.draw(), 120);
    this.timer.unref();
  }

  private row(id: number): Row | undefined {
    return this.rows.find((r) => r.id === id);
  }

  event(e: ProgressEvent): void {
    switch (e.type) {
      case 'start':
        this.rows.push({ id: e.id, name: e.name, start: e.time, state: 'running', lines: [] });
        break;
      case 'cached':
        this.rows.push({ id: e.id, name: e.name, start: e.time, end: e.time, state: 'cached', lines: [] });
        break;
      case 'log': {
        const r = this.row(e.id);
        if (r) {
          const parts = e.data.split('\n').filter((l) => l !== '');
          r.lines.push(...parts);
          if (r.lines.length > 6) r.lines.splice(0, r.lines.length - 6);
        }
        break;
      }
      case 'done':
      case 'error': {
        const r = this.row(e.id);
        if (r) {
          r.end = e.time;
          r.state = e.type === 'done' ? 'done' : 'error';
          if (e.type === 'error') r.lines.push(`ERROR: ${e.message}`);
        }
        break;
      }
      case 'finish':
        this.finished = { ok: e.ok, time: e.time };
        break;
    }
  }

  private draw(): void {
    const width = Math.max(40, (this.out.columns ?? 100) - 1);
    const now = this.finished?.time ?? Date.now();
    const complete = this.rows.filter((r) => r.state !== 'running').length;
    const lines = [`[+] Building ${seconds(now - this.begun)} (${complete}/${this.rows.length})${this.finished ? (this.finished.ok ? ' FINISHED' : ' FAILED') : ''}`];
    for (const r of this.rows) {
      const t = r.state === 'cached' ? 'CACHED' : seconds((r.end ?? now) - r.start);
      const label = ` => ${r.state === 'error' ? 'ERROR ' : ''}${r.name}`;
      lines.push(`${label.slice(0, width - t.length - 1).padEnd(width - t.length - 1)} ${t}`);
      if (r.state === 'running' || r.state === 'error') for (const l of r.lines) lines.push(` => => ${l}`.slice(0, width));
    }
    let s = this.drawn > 0 ? `\x1b[${this.drawn}A` : '';
    for (const l of lines) s += `\x1b[2K${l}\n`;
    this.out.write(s);
    this.drawn = lines.length;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.draw();
  }
}

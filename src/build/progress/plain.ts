import type { Writable } from 'node:stream';
import { type ProgressEvent, type ProgressSink, seconds } from './events.js';

/**
 * BuildKit's `--progress=plain`: one block per vertex, output lines prefixed `#N <elapsed>`,
 * `#N DONE 0.3s`, `#N CACHED`, and a total at the end.
 */
export class PlainRenderer implements ProgressSink {
  private starts = new Map<number, number>();
  private names = new Map<number, string>();
  private partial = new Map<number, string>();
  private last = -1;
  private readonly begun = Date.now();
  private count = 0;

  constructor(private readonly out: Writable) {}

  private header(id: number): void {
    if (this.last === id) return;
    this.out.write(`\n#${id} ${this.names.get(id) ?? ''}\n`);
    this.last = id;
  }

  event(e: ProgressEvent): void {
    switch (e.type) {
      case 'start':
        this.starts.set(e.id, e.time);
        this.names.set(e.id, e.name);
        this.last = -1;
        this.header(e.id);
        break;
      case 'cached':
        this.names.set(e.id, e.name);
        this.last = -1;
        this.header(e.id);
        this.out.write(`#${e.id} CACHED\n`);
        this.count++;
        break;
      case 'log': {
        const text = (this.partial.get(e.id) ?? '') + e.data;
        const lines = text.split('\n');
        this.partial.set(e.id, lines.pop()!);
        if (lines.length === 0) break;
        this.header(e.id);
        const t = seconds(e.time - (this.starts.get(e.id) ?? e.time)).slice(0, -1);
        for (const l of lines) this.out.write(`#${e.id} ${t} ${l}\n`);
        break;
      }
      case 'done':
      case 'error': {
        const rest = this.partial.get(e.id);
        this.header(e.id);
        if (rest) this.out.write(`#${e.id} ${rest}\n`);
        this.partial.delete(e.id);
        const d = seconds(e.time - (this.starts.get(e.id) ?? e.time));
        this.out.write(e.type === 'done' ? `#${e.id} DONE ${d}\n` : `#${e.id} ERROR: ${e.message}\n`);
        this.count++;
        break;
      }
      case 'finish':
        this.out.write(`\n${e.ok ? 'DONE' : 'FAILED'} ${seconds(e.time - this.begun)} (${this.count} steps)\n`);
        break;
    }
  }

  close(): void {}
}

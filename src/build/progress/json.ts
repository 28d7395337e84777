import type { Writable } from 'node:stream';
import type { ProgressEvent, ProgressSink } from './events.js';

/** `--progress=json`: one JSON object per event and line, for tools. */
export class JsonRenderer implements ProgressSink {
  constructor(private readonly out: Writable) {}
  event(e: ProgressEvent): void {
    this.out.write(`${JSON.stringify(e)}\n`);
  }
  close(): void {}
}

/** Collects events in memory (tests, and the last lines of a failed step). */
export class MemoryRenderer implements ProgressSink {
  readonly events: ProgressEvent[] = [];
  event(e: ProgressEvent): void {
    this.events.push(e);
  }
  close(): void {}
}

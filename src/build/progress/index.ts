import type { Writable } from 'node:stream';
import type { ProgressSink } from './events.js';
import { JsonRenderer } from './json.js';
import { PlainRenderer } from './plain.js';
import { TtyRenderer } from './tty.js';

export type ProgressMode = 'auto' | 'plain' | 'tty' | 'json' | 'quiet';

/** The renderer for `--progress`: auto is tty on a terminal, plain otherwise. */
export function createRenderer(mode: ProgressMode, out: Writable & { isTTY?: boolean; columns?: number }): ProgressSink {
  if (mode === 'json') return new JsonRenderer(out);
  if (mode === 'quiet') return { event() {}, close() {} };
  if (mode === 'tty' || (mode === 'auto' && out.isTTY)) return new TtyRenderer(out);
  return new PlainRenderer(out);
}

export * from './events.js';
export { PlainRenderer } from './plain.js';
export { TtyRenderer } from './tty.js';
export { JsonRenderer, MemoryRenderer } from './json.js';

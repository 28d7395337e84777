import type { Command } from '../command.js';
import { notImplemented } from './not-implemented.js';

export const pruneCommand: Command = {
  name: 'prune',
  summary: 'Remove unreferenced blobs and build cache',
  usage: '[OPTIONS]',
  options: {},
  args: { max: 0 },
  run: notImplemented('prune'),
};

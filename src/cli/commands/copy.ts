import type { Command } from '../command.js';
import { notImplemented } from './not-implemented.js';

export const copyCommand: Command = {
  name: 'copy',
  summary: 'Copy an image between registries and OCI layouts',
  usage: 'SOURCE DEST',
  options: {},
  args: { min: 2, max: 2 },
  run: notImplemented('copy'),
};

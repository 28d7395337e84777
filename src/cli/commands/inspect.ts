import type { Command } from '../command.js';
import { notImplemented } from './not-implemented.js';

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'Show the manifest and config of images',
  usage: 'NAME...',
  options: {},
  args: { min: 1 },
  run: notImplemented('inspect'),
};

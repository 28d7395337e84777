import type { Command } from '../command.js';
import { notImplemented } from './not-implemented.js';

export const loadCommand: Command = {
  name: 'load',
  summary: 'Load images from an OCI or docker-archive tar',
  usage: '-i FILE',
  options: {
    input: { type: 'string', short: 'i', placeholder: 'FILE', description: 'Archive to read (format detected)' },
  },
  args: { max: 0 },
  run: notImplemented('load'),
};

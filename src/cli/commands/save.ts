import type { Command } from '../command.js';
import { notImplemented } from './not-implemented.js';

export const saveCommand: Command = {
  name: 'save',
  summary: 'Write images to an OCI or docker-archive tar',
  usage: '-o FILE [OPTIONS] NAME...',
  options: {
    output: { type: 'string', short: 'o', placeholder: 'FILE', description: 'Archive to write' },
    format: { type: 'string', placeholder: 'FORMAT', default: 'oci', description: 'Archive format: oci or docker' },
  },
  args: { min: 1 },
  run: notImplemented('save'),
};

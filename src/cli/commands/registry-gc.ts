import type { Command } from '../command.js';
import { notImplemented } from './not-implemented.js';

export const registryGcCommand: Command = {
  name: 'registry gc',
  summary: 'Delete blobs no manifest references',
  usage: '[OPTIONS]',
  options: {
    root: { type: 'string', placeholder: 'DIR', description: 'Storage directory (default: STORE_ROOT/registry)' },
    'dry-run': { type: 'boolean', description: 'Only list what would be deleted' },
  },
  args: { max: 0 },
  run: notImplemented('registry gc'),
};

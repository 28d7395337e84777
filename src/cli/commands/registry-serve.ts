import type { Command } from '../command.js';
import { notImplemented } from './not-implemented.js';

export const registryServeCommand: Command = {
  name: 'registry serve',
  summary: 'Run the bundled OCI registry',
  usage: '[OPTIONS]',
  options: {
    addr: { type: 'string', placeholder: 'HOST:PORT', default: '127.0.0.1:5000', description: 'Address to listen on' },
    root: { type: 'string', placeholder: 'DIR', description: 'Storage directory (default: STORE_ROOT/registry)' },
  },
  args: { max: 0 },
  run: notImplemented('registry serve'),
};

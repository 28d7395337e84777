import type { Command } from '../command.js';
import { notImplemented } from './not-implemented.js';

export const runCommand: Command = {
  name: 'run',
  summary: 'Run a command in an image from the local store',
  usage: '[OPTIONS] IMAGE [COMMAND...]',
  options: {
    rm: { type: 'boolean', description: 'Remove the container state when it exits' },
    env: { type: 'string', short: 'e', multiple: true, placeholder: 'K=V', description: 'Set an environment variable' },
    network: { type: 'string', placeholder: 'MODE', default: 'host', description: 'Network: host or none' },
  },
  args: { min: 1 },
  stopAtFirstPositional: true,
  run: notImplemented('run'),
};

import type { Command } from '../command.js';
import { notImplemented } from './not-implemented.js';

export const planCommand: Command = {
  name: 'plan',
  summary: 'Print the build graph of a Dockerfile as JSON',
  usage: '[OPTIONS] CONTEXT',
  options: {
    file: { type: 'string', short: 'f', placeholder: 'FILE', description: 'Dockerfile path (default: CONTEXT/Dockerfile)' },
    target: { type: 'string', placeholder: 'STAGE', description: 'Plan up to this stage' },
    'build-arg': { type: 'string', multiple: true, placeholder: 'K=V', description: 'Set a build argument' },
  },
  args: { min: 1, max: 1 },
  run: notImplemented('plan'),
};

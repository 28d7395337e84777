import type { Command } from '../command.js';
import { notImplemented } from './not-implemented.js';

export const buildCommand: Command = {
  name: 'build',
  summary: 'Build an image from a Dockerfile',
  usage: '[OPTIONS] CONTEXT',
  options: {
    tag: { type: 'string', short: 't', multiple: true, placeholder: 'NAME', description: 'Name (and tag) the built image' },
    file: { type: 'string', short: 'f', placeholder: 'FILE', description: 'Dockerfile path (default: CONTEXT/Dockerfile)' },
    'build-arg': { type: 'string', multiple: true, placeholder: 'K=V', description: 'Set a build argument' },
    target: { type: 'string', placeholder: 'STAGE', description: 'Build up to this stage' },
    'no-cache': { type: 'boolean', description: 'Run every step, ignoring the cache' },
    progress: { type: 'string', placeholder: 'MODE', default: 'auto', description: 'Progress output: auto, plain, tty or json' },
  },
  args: { min: 1, max: 1 },
  run: notImplemented('build'),
};

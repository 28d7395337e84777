import type { Command } from '../command.js';
import { notImplemented } from './not-implemented.js';

export const parseCommand: Command = {
  name: 'parse',
  summary: 'Parse Dockerfiles and print their syntax tree',
  usage: '[OPTIONS] FILE...',
  options: {
    format: { type: 'string', placeholder: 'FORMAT', default: 'json', description: 'Output format: json or buildkit' },
  },
  args: { min: 1 },
  run: notImplemented('parse'),
};

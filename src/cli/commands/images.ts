import type { Command } from '../command.js';
import { notImplemented } from './not-implemented.js';

export const imagesCommand: Command = {
  name: 'images',
  summary: 'List images in the local store',
  usage: '[OPTIONS]',
  options: {
    format: { type: 'string', placeholder: 'FORMAT', default: 'table', description: 'Output format: table or json' },
  },
  args: { max: 0 },
  run: notImplemented('images'),
};

import type { Command } from '../command.js';
import { notImplemented } from './not-implemented.js';

export const pullCommand: Command = {
  name: 'pull',
  summary: 'Pull an image from a registry into the local store',
  usage: '[OPTIONS] NAME',
  options: {
    platform: { type: 'string', placeholder: 'OS/ARCH', description: 'Platform to pick from a multi-platform image' },
  },
  args: { min: 1, max: 1 },
  run: notImplemented('pull'),
};

import type { Command } from '../command.js';
import { notImplemented } from './not-implemented.js';

export const pushCommand: Command = {
  name: 'push',
  summary: 'Push an image from the local store to a registry',
  usage: '[OPTIONS] NAME',
  options: {},
  args: { min: 1, max: 1 },
  run: notImplemented('push'),
};

import type { Command } from '../command.js';
import { notImplemented } from './not-implemented.js';

export const rmiCommand: Command = {
  name: 'rmi',
  summary: 'Remove image names from the local store',
  usage: 'NAME...',
  options: {},
  args: { min: 1 },
  run: notImplemented('rmi'),
};

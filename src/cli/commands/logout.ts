import type { Command } from '../command.js';
import { notImplemented } from './not-implemented.js';

export const logoutCommand: Command = {
  name: 'logout',
  summary: 'Remove stored credentials for a registry',
  usage: 'REGISTRY',
  options: {},
  args: { min: 1, max: 1 },
  run: notImplemented('logout'),
};

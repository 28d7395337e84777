import type { Command } from '../command.js';
import { notImplemented } from './not-implemented.js';

export const loginCommand: Command = {
  name: 'login',
  summary: 'Store credentials for a registry',
  usage: '[OPTIONS] REGISTRY',
  options: {
    username: { type: 'string', short: 'u', placeholder: 'USER', description: 'User name' },
    password: { type: 'string', short: 'p', placeholder: 'PASSWORD', description: 'Password (prefer --password-stdin)' },
    'password-stdin': { type: 'boolean', description: 'Read the password from standard input' },
  },
  args: { min: 1, max: 1 },
  run: notImplemented('login'),
};

import type { Command } from '../command.js';
import { notImplemented } from './not-implemented.js';

export const tagCommand: Command = {
  name: 'tag',
  summary: 'Give an image another name',
  usage: 'SOURCE TARGET',
  options: {},
  args: { min: 2, max: 2 },
  run: notImplemented('tag'),
};

import type { Command } from '../command.js';
import { lookupImage } from '../../image/image.js';
import { openStore } from '../../store/store.js';

export const tagCommand: Command = {
  name: 'tag',
  summary: 'Give an image another name',
  usage: 'SOURCE TARGET',
  options: {},
  args: { min: 2, max: 2 },
  async run(args, ctx) {
    const [src, dst] = args.positionals as [string, string];
    const store = await openStore(ctx.root);
    const { descriptor } = await lookupImage(store, src);
    await store.images.set(dst, descriptor);
    return 0;
  },
};

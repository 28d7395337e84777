import type { Command } from '../command.js';
import { lookupImage } from '../../image/image.js';
import { familiarName, parseReference } from '../../image/reference.js';
import { ImageNotFoundError } from '../../store/errors.js';
import { normalizeName } from '../../store/names.js';
import { openStore } from '../../store/store.js';

export const rmiCommand: Command = {
  name: 'rmi',
  summary: 'Remove image names from the local store',
  usage: 'NAME...',
  description: 'Removes names (an image ID or digest removes every name pointing at that image). Blobs are freed by `tsbuild prune`.',
  options: {},
  args: { min: 1 },
  async run(args, ctx) {
    const store = await openStore(ctx.root);
    for (const ref of args.positionals) {
      let byName: string | undefined;
      try {
        byName = normalizeName(ref);
      } catch {
        byName = undefined;
      }
      if (byName && (await store.images.delete(byName))) {
        ctx.stdout.write(`Untagged: ${familiarName(parseReference(byName))}\n`);
        continue;
      }
      let digest;
      try {
        digest = (await lookupImage(store, ref)).descriptor.digest;
      } catch {
        throw new ImageNotFoundError(ref);
      }
      const names = (await store.images.list()).filter((r) => r.target.digest === digest);
      if (names.length === 0) throw new ImageNotFoundError(ref);
      for (const r of names) {
        await store.images.delete(r.name);
        ctx.stdout.write(`Untagged: ${familiarName(parseReference(r.name))}\n`);
      }
    }
    return 0;
  },
};

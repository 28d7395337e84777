import { bool, type Command } from '../command.js';
import { humanSize } from '../../store/image-summary.js';
import { BUILD_CACHE_NAMESPACE, openStore } from '../../store/store.js';

export const pruneCommand: Command = {
  name: 'prune',
  summary: 'Remove unreferenced blobs and build cache',
  usage: '[OPTIONS]',
  description: 'Empties the build cache (unless --keep-cache) and deletes blobs no image name, cache entry or running build refers to.',
  options: {
    'keep-cache': { type: 'boolean', description: 'Keep the build cache (and the blobs it refers to)' },
    'dry-run': { type: 'boolean', description: 'Only report what would be removed' },
  },
  args: { max: 0 },
  async run(args, ctx) {
    const store = await openStore(ctx.root);
    const dryRun = bool(args.options, 'dry-run');
    const r = await store.gc({ clearNamespaces: bool(args.options, 'keep-cache') ? [] : [BUILD_CACHE_NAMESPACE], dryRun });
    const verb = dryRun ? 'Would delete' : 'Deleted';
    ctx.stdout.write(`${verb} ${r.removedBlobs.length} blob${r.removedBlobs.length === 1 ? '' : 's'}${r.clearedEntries ? ` and ${r.clearedEntries} cache entr${r.clearedEntries === 1 ? 'y' : 'ies'}` : ''}; reclaimed ${humanSize(r.reclaimedBytes)}\n`);
    return 0;
  },
};

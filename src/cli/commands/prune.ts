import { bool, type Command } from '../command.js';
import { humanSize } from '../../store/image-summary.js';
import { BUILD_CACHE_NAMESPACE, COPY_DIFF_NAMESPACE, openStore } from '../../store/store.js';

export const pruneCommand: Command = {
  name: 'prune',
  summary: 'Remove unreferenced blobs and build cache',
  usage: '[OPTIONS]',
  description:
    'Empties the build cache (unless --keep-cache) and deletes blobs no image name, cache entry or running build refers to. With --cache-mounts, removes the RUN --mount=type=cache directories instead (those a running build holds are kept).',
  options: {
    'keep-cache': { type: 'boolean', description: 'Keep the build cache (and the blobs it refers to)' },
    'dry-run': { type: 'boolean', description: 'Only report what would be removed' },
    'cache-mounts': { type: 'boolean', description: 'Remove the RUN --mount=type=cache directories (only them)' },
  },
  args: { max: 0 },
  async run(args, ctx) {
    const store = await openStore(ctx.root);
    if (bool(args.options, 'cache-mounts')) {
      if (bool(args.options, 'dry-run')) throw new Error('--dry-run is not supported with --cache-mounts');
      const { pruneCacheMounts } = await import('../../build/mounts/prepare.js');
      const r = await pruneCacheMounts(store.root);
      const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
      ctx.stdout.write(
        `Deleted ${plural(r.removed, 'cache mount', 'cache mounts')}; reclaimed ${humanSize(r.bytes)}${r.inUse > 0 ? `; ${plural(r.inUse, 'cache mount', 'cache mounts')} in use kept` : ''}\n`,
      );
      return 0;
    }
    const dryRun = bool(args.options, 'dry-run');
    const r = await store.gc({ clearNamespaces: bool(args.options, 'keep-cache') ? [] : [BUILD_CACHE_NAMESPACE, COPY_DIFF_NAMESPACE], dryRun });
    const verb = dryRun ? 'Would delete' : 'Deleted';
    ctx.stdout.write(`${verb} ${r.removedBlobs.length} blob${r.removedBlobs.length === 1 ? '' : 's'}${r.clearedEntries ? ` and ${r.clearedEntries} cache entr${r.clearedEntries === 1 ? 'y' : 'ies'}` : ''}; reclaimed ${humanSize(r.reclaimedBytes)}\n`);
    return 0;
  },
};

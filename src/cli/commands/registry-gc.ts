import { join } from 'node:path';
import { collectGarbage } from '../../../registry-server/gc.js';
import { FilesystemDriver } from '../../../registry-server/storage/fs-driver.js';
import { bool, type Command, str, UsageError } from '../command.js';

/** `90s`, `10m`, `1h`, `2d`, or plain seconds. */
function parseDuration(v: string): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(v.trim());
  if (!m) throw new UsageError(`invalid duration ${JSON.stringify(v)} (e.g. 30s, 10m, 1h)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

export const registryGcCommand: Command = {
  name: 'registry gc',
  summary: 'Delete blobs no manifest references',
  usage: '[OPTIONS]',
  description: [
    'Marks every blob that a manifest of any repository references (indexes include their child',
    'manifests) and deletes the rest. Safe while the server runs: blobs younger than --grace are',
    'kept, so a push whose manifest is not written yet keeps its blobs.',
  ].join('\n'),
  options: {
    root: { type: 'string', placeholder: 'DIR', description: 'Storage directory (default: STORE_ROOT/registry)' },
    'dry-run': { type: 'boolean', description: 'Only list what would be deleted' },
    grace: { type: 'string', placeholder: 'DURATION', default: '1h', description: 'Keep unreferenced blobs younger than this' },
  },
  args: { max: 0 },
  async run(args, ctx) {
    const dryRun = bool(args.options, 'dry-run');
    const root = str(args.options, 'root') ?? join(ctx.root, 'registry');
    const r = await collectGarbage(new FilesystemDriver(root), {
      dryRun,
      gracePeriodMs: parseDuration(str(args.options, 'grace') ?? '1h'),
      onBlob: (d, size) => ctx.stdout.write(`${dryRun ? 'would delete' : 'deleted'} ${d} (${size} bytes)\n`),
    });
    ctx.stdout.write(
      `${r.referenced} blobs referenced, ${r.deleted.length} ${dryRun ? 'to delete' : 'deleted'} (${r.freedBytes} bytes), ${r.unlinked} repository links removed, ${r.spared} kept for the grace period\n`,
    );
    return 0;
  },
};

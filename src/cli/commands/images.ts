import { type Command, str, UsageError } from '../command.js';
import { openStore } from '../../store/store.js';
import { humanAge, humanSize, listImageSummaries } from '../../store/image-summary.js';

export const imagesCommand: Command = {
  name: 'images',
  summary: 'List images in the local store',
  usage: '[OPTIONS]',
  description: 'With --format json, prints a JSON array of {name, repository, tag, id, digest, created, size}.',
  options: {
    format: { type: 'string', placeholder: 'FORMAT', default: 'table', description: 'Output format: table or json' },
  },
  args: { max: 0 },
  async run(args, ctx) {
    const format = str(args.options, 'format') ?? 'table';
    if (format !== 'table' && format !== 'json') throw new UsageError(`unknown format ${JSON.stringify(format)} (table or json)`);
    const store = await openStore(ctx.root);
    const list = await listImageSummaries(store);
    if (format === 'json') {
      ctx.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
      return 0;
    }
    const rows = [['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE']];
    for (const s of list) rows.push([s.repository, s.tag, s.id.replace(/^sha256:/, '').slice(0, 12), humanAge(s.created), humanSize(s.size)]);
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const r of rows) ctx.stdout.write(`${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('')}\n`);
    return 0;
  },
};

import { parseReference } from '../../image/reference.js';
import { StoreBlobSources } from '../../registry/blob-sources.js';
import { progressFor } from '../../registry/progress.js';
import { push, pushSummary } from '../../registry/push.js';
import { clientFromOptions, registryOptions } from '../../registry/setup.js';
import { openStore } from '../../store/store.js';
import type { Command } from '../command.js';

export const pushCommand: Command = {
  name: 'push',
  summary: 'Push an image from the local store to a registry',
  usage: '[OPTIONS] NAME[:TAG] [DEST[:TAG]]',
  description:
    'Pushes NAME to the registry and repository it names, or to DEST when given.\nLayers stored uncompressed are sent gzip-compressed (compressed once, then remembered).\n\nExamples:\n  tsbuild push localhost:5000/app:1.0\n  tsbuild push app:latest registry.example.com/team/app:1.0',
  options: { ...registryOptions },
  args: { min: 1, max: 2 },
  async run(args, ctx) {
    const local = args.positionals[0]!;
    const dest = parseReference(args.positionals[1] ?? local);
    const { client } = clientFromOptions(args.options, ctx.env);
    try {
      const store = await openStore(ctx.root);
      ctx.stdout.write(`The push refers to repository [${dest.registry}/${dest.repository}]\n`);
      const r = await push(client, store, local, dest, {
        progress: progressFor(ctx.stdout, 'Pushing'),
        sources: new StoreBlobSources(store.kv('registry-blob-sources')),
        signal: ctx.signal,
      });
      ctx.stdout.write(`${pushSummary(r)}\n`);
      return 0;
    } finally {
      await client.close();
    }
  },
};

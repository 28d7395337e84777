import { parsePlatform } from '../../image/platform.js';
import { familiarName, parseReference } from '../../image/reference.js';
import { StoreBlobSources } from '../../registry/blob-sources.js';
import { progressFor } from '../../registry/progress.js';
import { pull } from '../../registry/pull.js';
import { clientFromOptions, registryOptions } from '../../registry/setup.js';
import { openStore } from '../../store/store.js';
import { type Command, str } from '../command.js';

export const pullCommand: Command = {
  name: 'pull',
  summary: 'Pull an image from a registry into the local store',
  usage: '[OPTIONS] NAME[:TAG|@DIGEST]',
  description: 'Examples:\n  tsbuild pull busybox\n  tsbuild pull --platform linux/arm64 localhost:5000/app:1.0',
  options: {
    platform: { type: 'string', placeholder: 'OS/ARCH', description: 'Platform to pick from a multi-platform image' },
    ...registryOptions,
  },
  args: { min: 1, max: 1 },
  async run(args, ctx) {
    const input = args.positionals[0]!;
    const ref = parseReference(input);
    const platform = str(args.options, 'platform');
    const { client } = clientFromOptions(args.options, ctx.env);
    try {
      const store = await openStore(ctx.root);
      if (!ref.digest && !/:[^/]+$/.test(input)) ctx.stdout.write('Using default tag: latest\n');
      ctx.stdout.write(`${ref.tag ?? ref.digest}: Pulling from ${ref.repository}\n`);
      const r = await pull(client, store, ref, {
        ...(platform ? { platform: parsePlatform(platform) } : {}),
        progress: progressFor(ctx.stdout, 'Downloading'),
        sources: new StoreBlobSources(store.kv('registry-blob-sources')),
        signal: ctx.signal,
      });
      ctx.stdout.write(`Digest: ${r.digest}\n`);
      const short = familiarName(ref);
      ctx.stdout.write(r.downloaded > 0 ? `Status: Downloaded newer image for ${short}\n` : `Status: Image is up to date for ${short}\n`);
      ctx.stdout.write(`${r.name ?? `${ref.registry}/${ref.repository}@${r.digest}`}\n`);
      return 0;
    } finally {
      await client.close();
    }
  },
};

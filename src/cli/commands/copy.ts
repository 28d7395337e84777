import { parsePlatform } from '../../image/platform.js';
import { MemoryBlobSources } from '../../registry/blob-sources.js';
import { copyImage, formatLocation, parseLocation } from '../../registry/copy.js';
import { progressFor } from '../../registry/progress.js';
import { clientFromOptions, registryOptions } from '../../registry/setup.js';
import { type Command, str } from '../command.js';

export const copyCommand: Command = {
  name: 'copy',
  summary: 'Copy an image between registries and OCI layouts',
  usage: '[OPTIONS] SOURCE DEST',
  description:
    'SOURCE and DEST are image references (optionally docker://NAME) or oci:DIR[:TAG] layouts.\nBlobs stream from one side to the other without the local store, verified on the way;\nwithin one registry they are mounted instead of copied. All platforms are copied unless --platform.\n\nExamples:\n  tsbuild copy localhost:5000/app:1 registry.example.com/app:1\n  tsbuild copy oci:./layout:latest localhost:5000/busybox:latest',
  options: {
    platform: { type: 'string', placeholder: 'OS/ARCH', description: 'Copy only this platform of a multi-platform image' },
    ...registryOptions,
  },
  args: { min: 2, max: 2 },
  async run(args, ctx) {
    const from = parseLocation(args.positionals[0]!);
    const to = parseLocation(args.positionals[1]!);
    const platform = str(args.options, 'platform');
    const { client } = clientFromOptions(args.options, ctx.env);
    try {
      const sent = await copyImage(client, from, to, {
        ...(platform ? { platform: parsePlatform(platform) } : {}),
        progress: progressFor(ctx.stdout, 'Copying'),
        sources: new MemoryBlobSources(),
        signal: ctx.signal,
      });
      ctx.stdout.write(`Copied ${formatLocation(from)} to ${formatLocation(to)}\nDigest: ${sent.digest} size: ${sent.size}\n`);
      return 0;
    } finally {
      await client.close();
    }
  },
};

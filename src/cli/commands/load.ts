import { resolve } from 'node:path';
import { type Command, str, UsageError } from '../command.js';
import { familiarName, parseReference } from '../../image/reference.js';
import { loadArchive } from '../../store/archive.js';
import { openStore } from '../../store/store.js';

export const loadCommand: Command = {
  name: 'load',
  summary: 'Load images from an OCI or docker-archive tar',
  usage: '-i FILE [-t NAME]',
  description: 'FILE may be an oci-archive, a docker-archive (plain or gzip) or an OCI layout directory; the format is detected.',
  options: {
    input: { type: 'string', short: 'i', placeholder: 'FILE', description: 'Archive to read (format detected)' },
    tag: { type: 'string', short: 't', placeholder: 'NAME', description: 'Name for an archive holding one image (or repository for tag-only names)' },
  },
  args: { max: 0 },
  async run(args, ctx) {
    const input = str(args.options, 'input');
    if (!input) throw new UsageError('"tsbuild load" needs -i FILE');
    const tag = str(args.options, 'tag');
    const store = await openStore(ctx.root);
    const { images } = await loadArchive(store, resolve(input), tag ? { defaultName: tag } : {});
    for (const img of images) {
      ctx.stdout.write(img.name ? `Loaded image: ${familiarName(parseReference(img.name))}\n` : `Loaded image ID: ${img.descriptor.digest}\n`);
    }
    return 0;
  },
};

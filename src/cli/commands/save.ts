import { resolve } from 'node:path';
import { type Command, str, UsageError } from '../command.js';
import { lookupImage, resolveImage } from '../../image/image.js';
import { saveArchive } from '../../store/archive.js';
import type { ImageToSave } from '../../store/oci-layout.js';
import { openStore } from '../../store/store.js';

export const saveCommand: Command = {
  name: 'save',
  summary: 'Write images to an OCI or docker-archive tar',
  usage: '-o FILE [OPTIONS] NAME...',
  description: 'oci: an oci-archive (OCI image layout in a tar), read by skopeo/umoci/podman. docker: the `docker save` format, for `docker load`.',
  options: {
    output: { type: 'string', short: 'o', placeholder: 'FILE', description: 'Archive to write' },
    format: { type: 'string', placeholder: 'FORMAT', default: 'oci', description: 'Archive format: oci or docker' },
  },
  args: { min: 1 },
  async run(args, ctx) {
    const output = str(args.options, 'output');
    if (!output) throw new UsageError('"tsbuild save" needs -o FILE');
    const format = str(args.options, 'format') ?? 'oci';
    if (format !== 'oci' && format !== 'docker') throw new UsageError(`unknown format ${JSON.stringify(format)} (oci or docker)`);
    const store = await openStore(ctx.root);
    const images: ImageToSave[] = [];
    for (const ref of args.positionals) {
      const found = await lookupImage(store, ref);
      // docker archives hold single-platform images; OCI keeps what the name points at.
      const descriptor = format === 'docker' ? await resolveImage(store, found.descriptor) : found.descriptor;
      images.push({ ...(found.name ? { name: found.name } : {}), descriptor });
    }
    await saveArchive(store, images, resolve(output), format);
    return 0;
  },
};

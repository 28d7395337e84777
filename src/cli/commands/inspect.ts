import type { Command } from '../command.js';
import { isIndex } from '../../image/manifest.js';
import { loadImage, lookupImage, readManifest } from '../../image/image.js';
import { familiarName, parseReference } from '../../image/reference.js';
import { openStore } from '../../store/store.js';
import { imageSize } from '../../image/image.js';

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'Show the manifest and config of images',
  usage: 'NAME...',
  description: 'Prints a JSON array like `docker image inspect`: Id, RepoTags, RepoDigests, Created, Architecture, Os, Config, RootFS, plus Descriptor and Manifest.',
  options: {},
  args: { min: 1 },
  async run(args, ctx) {
    const store = await openStore(ctx.root);
    const out: unknown[] = [];
    const records = await store.images.list();
    for (const ref of args.positionals) {
      const { descriptor } = await lookupImage(store, ref);
      const top = await readManifest(store, descriptor.digest);
      const img = await loadImage(store, descriptor);
      const names = records.filter((r) => r.target.digest === descriptor.digest).map((r) => parseReference(r.name));
      const { config } = img;
      out.push({
        Id: img.manifest.config.digest,
        RepoTags: names.map((n) => familiarName(n)),
        RepoDigests: [...new Set(names.map((n) => `${familiarName({ registry: n.registry, repository: n.repository })}@${descriptor.digest}`))],
        Created: config.created ?? null,
        Author: config.author ?? '',
        Architecture: config.architecture,
        ...(config.variant ? { Variant: config.variant } : {}),
        Os: config.os,
        Config: config.config ?? {},
        RootFS: { Type: 'layers', Layers: config.rootfs.diff_ids },
        Size: imageSize(img),
        History: config.history ?? [],
        Descriptor: descriptor,
        ...(isIndex(top) ? { Index: top, ManifestDescriptor: img.descriptor } : {}),
        Manifest: img.manifest,
      });
    }
    ctx.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return 0;
  },
};

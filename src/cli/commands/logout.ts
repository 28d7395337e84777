import { DEFAULT_REGISTRY } from '../../image/reference.js';
import { DockerConfigCredentials, normaliseAuthKey } from '../../registry/credentials.js';
import type { Command } from '../command.js';

export const logoutCommand: Command = {
  name: 'logout',
  summary: 'Remove stored credentials for a registry',
  usage: '[REGISTRY]',
  description: 'Removes the credentials tsbuild login (or docker login) stored for REGISTRY (Docker Hub by default).',
  options: {},
  args: { min: 0, max: 1 },
  async run(args, ctx) {
    const registry = normaliseAuthKey(args.positionals[0] ?? DEFAULT_REGISTRY);
    const removed = await new DockerConfigCredentials({ env: ctx.env }).erase(registry);
    ctx.stdout.write(removed ? `Removing login credentials for ${registry}\n` : `Not logged in to ${registry}\n`);
    return 0;
  },
};

import { DEFAULT_REGISTRY } from '../../image/reference.js';
import { normaliseAuthKey } from '../../registry/credentials.js';
import { clientFromOptions, registryOptions } from '../../registry/setup.js';
import { bool, type Command, str, UsageError } from '../command.js';

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer | string>) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
  return Buffer.concat(chunks).toString('utf8');
}

export const loginCommand: Command = {
  name: 'login',
  summary: 'Store credentials for a registry',
  usage: '[OPTIONS] [REGISTRY]',
  description:
    'Checks the credentials against the registry, then stores them in docker\'s config.json\n($DOCKER_CONFIG or ~/.docker), or in its credential helper when one is configured.\nREGISTRY defaults to Docker Hub.\n\nExample:\n  echo "$TOKEN" | tsbuild login -u me --password-stdin registry.example.com',
  options: {
    username: { type: 'string', short: 'u', placeholder: 'USER', description: 'User name' },
    password: { type: 'string', short: 'p', placeholder: 'PASSWORD', description: 'Password (prefer --password-stdin)' },
    'password-stdin': { type: 'boolean', description: 'Read the password from standard input' },
    ...registryOptions,
  },
  args: { min: 0, max: 1 },
  async run(args, ctx) {
    const registry = normaliseAuthKey(args.positionals[0] ?? DEFAULT_REGISTRY);
    const username = str(args.options, 'username');
    let password = str(args.options, 'password');
    if (bool(args.options, 'password-stdin')) {
      if (password !== undefined) throw new UsageError('--password and --password-stdin are mutually exclusive');
      if (!username) throw new UsageError('--password-stdin needs --username');
      password = (await readAll(ctx.stdin)).replace(/\r?\n$/, '');
    } else if (password !== undefined) {
      ctx.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
    }
    if (!username) throw new UsageError('a username is needed: tsbuild login -u USER --password-stdin REGISTRY');
    if (!password) throw new UsageError('a password is needed: pass it on standard input with --password-stdin');
    const { client, credentials } = clientFromOptions(args.options, ctx.env, { retries: 2 });
    try {
      await client.login(registry, { username, password }, ctx.signal);
    } finally {
      await client.close();
    }
    await credentials.store(registry, { username, password });
    ctx.stdout.write('Login Succeeded\n');
    return 0;
  },
};

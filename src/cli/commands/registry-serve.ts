import { join } from 'node:path';
import { startRegistry } from '../../../registry-server/server.js';
import { bool, type Command, str, UsageError } from '../command.js';

export const registryServeCommand: Command = {
  name: 'registry serve',
  summary: 'Run the bundled OCI registry',
  usage: '[OPTIONS]',
  description: [
    'Serves the OCI distribution API (v1.1) from a directory. Open by default; --htpasswd enables',
    'basic auth (bcrypt entries: htpasswd -Bbn USER PASS), --auth token makes the server issue',
    'Bearer tokens from its own /token endpoint. Prints "listening on URL" once ready and one JSON',
    'line per request on stderr; SIGINT/SIGTERM finish in-flight requests, then exit.',
    '',
    'Example: tsbuild registry serve --addr 127.0.0.1:5000 --root /srv/registry',
  ].join('\n'),
  options: {
    addr: { type: 'string', placeholder: 'HOST:PORT', default: '127.0.0.1:5000', description: 'Address to listen on (port 0: any free port)' },
    root: { type: 'string', placeholder: 'DIR', description: 'Storage directory (default: STORE_ROOT/registry)' },
    htpasswd: { type: 'string', placeholder: 'FILE', description: 'Users for basic or token auth (bcrypt htpasswd file)' },
    auth: { type: 'string', placeholder: 'MODE', description: 'none, basic or token (default: basic with --htpasswd, else none)' },
    'read-only': { type: 'boolean', description: 'Refuse every write' },
    'no-automatic-mount': { type: 'boolean', description: 'Mount a blob only from the repository named in from=, never from any other the client may pull' },
    'tls-cert': { type: 'string', placeholder: 'FILE', description: 'Serve HTTPS with this certificate (PEM)' },
    'tls-key': { type: 'string', placeholder: 'FILE', description: 'Private key of --tls-cert (PEM)' },
    quiet: { type: 'boolean', short: 'q', description: 'No request log' },
  },
  args: { max: 0 },
  async run(args, ctx) {
    const o = args.options;
    const auth = str(o, 'auth');
    if (auth !== undefined && auth !== 'none' && auth !== 'basic' && auth !== 'token') throw new UsageError(`--auth must be none, basic or token, not ${JSON.stringify(auth)}`);
    if (auth === 'basic' && !str(o, 'htpasswd')) throw new UsageError('--auth basic needs --htpasswd FILE');
    const cert = str(o, 'tls-cert');
    const key = str(o, 'tls-key');
    if (!cert !== !key) throw new UsageError('--tls-cert and --tls-key go together');
    const quiet = bool(o, 'quiet');
    const registry = await startRegistry({
      addr: str(o, 'addr') ?? '127.0.0.1:5000',
      root: str(o, 'root') ?? join(ctx.root, 'registry'),
      ...(str(o, 'htpasswd') ? { htpasswd: str(o, 'htpasswd') } : {}),
      ...(auth ? { auth } : {}),
      readOnly: bool(o, 'read-only'),
      automaticMount: !bool(o, 'no-automatic-mount'),
      ...(cert && key ? { tls: { cert, key } } : {}),
      log: (line) => {
        if (!quiet) ctx.stderr.write(`${line}\n`);
      },
    });
    ctx.stdout.write(`listening on ${registry.url}\n`);
    await new Promise<void>((resolve) => {
      if (ctx.signal.aborted) resolve();
      else ctx.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    await registry.close();
    return 0;
  },
};

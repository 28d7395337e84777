/** `tsbuild build --secret ...` and `--ssh ...`, with buildx's syntax and defaults. */
import { MountError, type SecretSource } from './types.js';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * `id=x,src=FILE` | `id=x,env=VAR` | `id=x,type=env[,src=VAR]` | `id=X` (the env var X when set, else
 * the file X). `source` is an alias of `src`. The secret itself is read only when a RUN mounts it.
 */
export function parseSecretFlag(value: string, env: Env = process.env): { id: string; source: SecretSource } {
  let id = '';
  let type: 'file' | 'env' | undefined;
  let src = '';
  let envName = '';
  for (const field of value.split(',')) {
    if (field === '') continue;
    const eq = field.indexOf('=');
    if (eq < 0) throw new MountError(`invalid secret ${JSON.stringify(value)}: field ${JSON.stringify(field)} must be a key=value pair`);
    const key = field.slice(0, eq).toLowerCase();
    const v = field.slice(eq + 1);
    switch (key) {
      case 'type':
        if (v !== 'file' && v !== 'env') throw new MountError(`invalid secret type ${JSON.stringify(v)}: expected file or env`);
        type = v;
        break;
      case 'id':
        id = v;
        break;
      case 'src':
      case 'source':
        src = v;
        break;
      case 'env':
        envName = v;
        break;
      default:
        throw new MountError(`invalid secret ${JSON.stringify(value)}: unexpected key ${JSON.stringify(key)}`);
    }
  }
  if (type === 'env' && !envName) {
    envName = src;
    src = '';
  }
  if (!id) throw new MountError(`invalid secret ${JSON.stringify(value)}: secret ID missing`);
  if (envName) return { id, source: { type: 'env', name: envName } };
  if (src) return { id, source: { type: 'file', path: src } };
  if (env[id] !== undefined) return { id, source: { type: 'env', name: id } };
  return { id, source: { type: 'file', path: id } };
}

/**
 * `default` (the agent at $SSH_AUTH_SOCK) | `default=SOCKET` | `ID=SOCKET`. Only agent sockets are
 * forwarded; buildx's private-key-file form is refused with a clear message.
 */
export function parseSshFlag(value: string, env: Env = process.env): { id: string; socket: string } {
  const eq = value.indexOf('=');
  const id = eq < 0 ? value : value.slice(0, eq);
  if (!id) throw new MountError(`invalid ssh ${JSON.stringify(value)}: missing id`);
  const paths = eq < 0 ? [] : value.slice(eq + 1).split(',').filter(Boolean);
  if (paths.length > 1) throw new MountError(`invalid ssh ${JSON.stringify(value)}: only one agent socket per id is supported`);
  const socket = paths[0] ?? env.SSH_AUTH_SOCK ?? '';
  if (!socket) throw new MountError(`invalid empty ssh agent socket for ${id}: make sure SSH_AUTH_SOCK is set`);
  return { id, socket };
}

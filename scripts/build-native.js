// Compiles the native modules (native/*.c) into dist/native/ with the system C compiler and Node's
// own headers (N-API, so any Node >= 18 loads them). Optional: when there is no compiler or no
// headers, tsbuild does without them, only slower (syscalls.node: mount, umount, getfattr and perl
// are spawned instead; sha256.node: blobs are hashed on the main thread; sendfile.node: uploads
// pass through Node's buffers); this script then says so in one line and succeeds.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const candidates = [process.env.TSBUILD_NODE_INCLUDE, join(dirname(process.execPath), '..', 'include', 'node'), join(process.config.variables.node_prefix ?? '/usr', 'include', 'node')];
const include = candidates.find((d) => d && existsSync(join(d, 'node_api.h')));
const cc = process.env.CC ?? 'cc';

const modules = [
  { name: 'syscalls', without: 'tools will be spawned instead' },
  // OpenSSL's headers as Node installs them; its symbols are the running Node's own.
  { name: 'sha256', without: 'blobs are hashed on the main thread', needs: 'openssl/evp.h' },
  { name: 'sendfile', without: 'uploads to plain-HTTP registries are read and written by Node' },
];

if (process.platform !== 'linux') process.exit(0);
mkdirSync(join(root, 'dist', 'native'), { recursive: true });
for (const m of modules) {
  const out = join(root, 'dist', 'native', `${m.name}.node`);
  if (!include || (m.needs && !existsSync(join(include, m.needs)))) {
    console.log(`tsbuild: native ${m.name} not built (no ${m.needs && include ? m.needs : 'node_api.h'} found); ${m.without}`);
    continue;
  }
  const tmp = `${out}.tmp`;
  try {
    execFileSync(cc, ['-O2', '-Wall', '-Wextra', '-shared', '-fPIC', `-DNODE_GYP_MODULE_NAME=tsbuild_${m.name}`, `-I${include}`, join(root, 'native', `${m.name}.c`), '-o', tmp], { stdio: ['ignore', 'inherit', 'inherit'] });
    renameSync(tmp, out);
  } catch (e) {
    rmSync(tmp, { force: true });
    console.log(`tsbuild: native ${m.name} not built (${cc}: ${e.message.split('\n')[0]}); ${m.without}`);
  }
}

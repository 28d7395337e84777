// Compiles native/syscalls.c into dist/native/syscalls.node with the system C compiler and Node's
// own headers (N-API, so any Node >= 18 loads it). Optional: when there is no compiler or no headers,
// tsbuild spawns mount, umount, getfattr and perl for the same calls instead, only slower; this
// script then says so in one line and succeeds.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'native', 'syscalls.node');
const candidates = [process.env.TSBUILD_NODE_INCLUDE, join(dirname(process.execPath), '..', 'include', 'node'), join(process.config.variables.node_prefix ?? '/usr', 'include', 'node')];
const include = candidates.find((d) => d && existsSync(join(d, 'node_api.h')));
const cc = process.env.CC ?? 'cc';

if (process.platform !== 'linux') process.exit(0);
if (!include) {
  console.log('tsbuild: native syscalls not built (no node_api.h found); tools will be spawned instead');
  process.exit(0);
}
mkdirSync(dirname(out), { recursive: true });
const tmp = `${out}.tmp`;
try {
  execFileSync(cc, ['-O2', '-Wall', '-Wextra', '-shared', '-fPIC', '-DNODE_GYP_MODULE_NAME=tsbuild_syscalls', `-I${include}`, join(root, 'native', 'syscalls.c'), '-o', tmp], { stdio: ['ignore', 'inherit', 'inherit'] });
  renameSync(tmp, out);
} catch (e) {
  rmSync(tmp, { force: true });
  console.log(`tsbuild: native syscalls not built (${cc}: ${e.message.split('\n')[0]}); tools will be spawned instead`);
}

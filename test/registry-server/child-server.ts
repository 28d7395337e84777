import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import ts from 'typescript';
import { REPO_ROOT } from './helpers.js';

/**
 * Transpiles the registry server (and what it imports of src/: the image types, atomic writes, sendfile) into `outDir` as plain ESM, with
 * a small entry script, so tests can run it as a separate process they can SIGKILL. Node 20 cannot
 * run TypeScript itself and the build output (dist/) may be stale.
 */
export async function buildChildServer(outDir: string): Promise<string> {
  const files: string[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) files.push(p);
    }
  };
  await walk(join(REPO_ROOT, 'registry-server'));
  await walk(join(REPO_ROOT, 'src', 'image'));
  files.push(join(REPO_ROOT, 'src', 'store', 'atomic.ts'));
  // sendfile and pooled hashing: the child finds no native module under its own root and does without.
  for (const f of ['net/send-file.ts', 'native/sendfile.ts', 'native/load.ts', 'package-root.ts', 'store/stream-hash.ts', 'native/pooled-sha256.ts']) files.push(join(REPO_ROOT, 'src', f));
  for (const f of files) {
    const out = join(outDir, relative(REPO_ROOT, f)).replace(/\.ts$/, '.js');
    const js = ts.transpileModule(await readFile(f, 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
      fileName: f,
    }).outputText;
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, js);
  }
  await symlink(join(REPO_ROOT, 'node_modules'), join(outDir, 'node_modules'));
  await writeFile(join(outDir, 'package.json'), '{"type":"module"}');
  const entry = join(outDir, 'child.js');
  await writeFile(
    entry,
    `import { startRegistry } from './registry-server/server.js';
const [root, addr] = process.argv.slice(2);
const reg = await startRegistry({ root, addr: addr ?? '127.0.0.1:0' });
process.stdout.write('listening on ' + reg.url + '\\n');
`,
  );
  return entry;
}

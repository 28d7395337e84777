// Builds dist/snapshot/tsbuild.blob, the V8 start-up snapshot bin/tsbuild starts Node from (see
// src/cli/snapshot-entry.ts), and dist/snapshot/node-id, the size and mtime of the node binary it
// was built with: a snapshot only loads into the Node that made it, so the launcher compares.
// Optional: if the snapshot cannot be built, this says so in one line and tsbuild starts normally.
import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'dist', 'snapshot');
rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
const entry = join(outDir, 'entry.cjs');
// The snapshot builder runs CommonJS, one file, requiring only Node's built-ins. import.meta.url
// is where the code would live: bin/tsbuild.js, known only when the snapshot runs.
await build({
  entryPoints: [join(root, 'dist', 'src', 'cli', 'snapshot-entry.js')],
  outfile: entry,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20.18',
  logLevel: 'warning',
  define: { 'import.meta.url': '__tsbuildModule.url' },
  banner: { js: 'var __tsbuildModule = { get url() { return require("node:url").pathToFileURL(require("node:fs").realpathSync(process.argv[1])).href; } };' },
});
const blob = join(outDir, 'tsbuild.blob');
try {
  execFileSync(process.execPath, ['--snapshot-blob', `${blob}.tmp`, '--build-snapshot', entry], { stdio: ['ignore', 'ignore', 'pipe'], cwd: outDir });
  renameSync(`${blob}.tmp`, blob);
  const node = statSync(process.execPath);
  writeFileSync(join(outDir, 'node-id'), `${process.execPath} ${node.size}:${Math.floor(node.mtimeMs / 1000)}\n`);
  // The launcher compares the node binary's mtime with this file's, without starting a process.
  writeFileSync(join(outDir, 'node-stamp'), '');
  utimesSync(join(outDir, 'node-stamp'), node.atime, node.mtime);
} catch (e) {
  rmSync(`${blob}.tmp`, { force: true });
  const why = `${e.stderr ?? ''}`.split('\n').find((l) => /Error|error/.test(l)) ?? e.message.split('\n')[0];
  console.log(`tsbuild: start-up snapshot not built (${why.trim()}); tsbuild starts without it`);
}
rmSync(entry, { force: true });

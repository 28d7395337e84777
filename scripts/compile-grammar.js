// Compiles every grammar/*.ne (written with `@preprocessor esmodule`) into
// src/dockerfile/generated/<name>.ts, so the parser ships precompiled and nothing
// runs nearleyc at start-up. nearleyc's output is untyped JavaScript, hence @ts-nocheck.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, basename } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const nearleyc = join(dirname(require.resolve('nearley/package.json')), 'bin', 'nearleyc.js');
const outDir = join(root, 'src', 'dockerfile', 'generated');
mkdirSync(outDir, { recursive: true });

for (const file of readdirSync(join(root, 'grammar')).filter((f) => f.endsWith('.ne'))) {
  const name = basename(file, '.ne');
  const compiled = execFileSync(process.execPath, [nearleyc, join(root, 'grammar', file)], { encoding: 'utf8' });
  writeFileSync(join(outDir, `${name}.ts`), `// @ts-nocheck\n// Generated from grammar/${file} by scripts/compile-grammar.js. Do not edit.\n${compiled}`);
}

// .dockerignore matcher speed: 100,000 generated context paths against a realistic ignore file.
import { createIgnoreMatcher, parseDockerignore } from '../../dist/src/dockerfile/dockerignore.js';

const IGNORE = `
.git
node_modules
**/*.log
!important.log
dist/**
*/tmp*
**/__pycache__
**/.DS_Store
coverage
!src/**/keep.log
docs/*.md
!docs/README.md
`;

function paths(n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const depth = 1 + (i % 5);
    const parts = [];
    for (let d = 0; d < depth; d++) parts.push(['src', 'lib', 'node_modules', 'docs', 'tmpx', 'pkg', '__pycache__'][(i + d * 3) % 7] + (d > 1 ? d : ''));
    parts.push(`file${i}.${['ts', 'log', 'md', 'js'][i % 4]}`);
    out.push(parts.join('/'));
  }
  return out;
}

export default async function ({ log }) {
  const list = paths(100_000);
  const m = createIgnoreMatcher(parseDockerignore(IGNORE));
  // Warm-up, then the measured pass with a fresh matcher (its directory cache starts cold).
  for (const p of list.slice(0, 5000)) m.ignores(p);
  const fresh = createIgnoreMatcher(parseDockerignore(IGNORE));
  const t0 = process.hrtime.bigint();
  let ignored = 0;
  for (const p of list) if (fresh.ignores(p)) ignored++;
  const sec = Number(process.hrtime.bigint() - t0) / 1e9;
  log(`${ignored} of ${list.length} ignored in ${(sec * 1000).toFixed(1)} ms`);
  return [{ name: '.dockerignore matcher, 100k paths', value: list.length / sec, unit: 'paths/s', better: 'higher' }];
}

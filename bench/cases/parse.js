// Dockerfile parse throughput: tsbuild's parser against the npm package dockerfile-ast on the
// same texts in the same process (testdata Dockerfiles and BuildKit's parser corpus, repeated to
// about 2 MB), plus the time for one synthetic 10,000-line Dockerfile.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DockerfileParser } from 'dockerfile-ast';
import { parse } from '../../dist/src/dockerfile/parser.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function dockerfiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = statSync(path);
    if (st.isDirectory()) out.push(...dockerfiles(path));
    else if (/^Dockerfile|\.Dockerfile$/.test(name)) out.push(readFileSync(path, 'utf8'));
  }
  return out;
}

/** A long, varied Dockerfile: stages, flags, continuations, comments, heredocs, JSON forms. */
export function bigDockerfile(lines) {
  const parts = ['# syntax=docker/dockerfile:1', 'ARG BASE=alpine:3.20'];
  for (let i = 0; parts.length < lines; i++) {
    parts.push(
      `FROM --platform=$BUILDPLATFORM \${BASE} AS stage${i}`,
      `# step ${i}: install things`,
      `RUN --mount=type=cache,target=/var/cache/apk apk add --no-cache curl \\`,
      `    git make \\`,
      `    && echo "done ${i}"`,
      `ENV A${i}=one B${i}="two three" C${i}=four\\ five`,
      `LABEL org.example.n="${i}" org.example.name='stage ${i}'`,
      `COPY --from=stage${i} --chown=1000:1000 ["/src/a b", "/dst/"]`,
      `COPY <<EOF /etc/file${i}.conf`,
      `key=${i}`,
      `EOF`,
      `WORKDIR /work/${i}`,
      `EXPOSE 80${i % 10} 443/tcp`,
      `HEALTHCHECK --interval=30s --timeout=3s CMD ["curl", "-f", "http://localhost/"]`,
      `CMD ["sh", "-c", "echo ${i}"]`,
      '',
    );
  }
  return parts.slice(0, lines).join('\n') + '\n';
}

function time(fn) {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

export default async function (ctx) {
  const base = [...dockerfiles(join(root, 'testdata'))];
  const baseBytes = base.reduce((n, t) => n + Buffer.byteLength(t), 0);
  const copies = Math.max(1, Math.ceil((2 * 1024 * 1024) / baseBytes));
  const texts = [];
  for (let i = 0; i < copies; i++) texts.push(...base);
  const bytes = baseBytes * copies;
  ctx.log(`${texts.length} Dockerfiles (${base.length} distinct), ${(bytes / 1e6).toFixed(2)} MB`);

  const ours = () => {
    for (const t of texts) {
      try {
        parse(t);
      } catch {
        // negative corpus cases: rejecting them is part of the work
      }
    }
  };
  const theirs = () => {
    for (const t of texts) DockerfileParser.parse(t);
  };
  // Warm both up, then take the best of three runs each, interleaved.
  ours();
  theirs();
  let best = Infinity;
  let bestPeer = Infinity;
  for (let r = 0; r < 3; r++) {
    best = Math.min(best, time(ours));
    bestPeer = Math.min(bestPeer, time(theirs));
  }
  const big = bigDockerfile(10_000);
  parse(big);
  let bigMs = Infinity;
  let bigPeer = Infinity;
  for (let r = 0; r < 3; r++) {
    bigMs = Math.min(bigMs, time(() => parse(big)));
    bigPeer = Math.min(bigPeer, time(() => DockerfileParser.parse(big)));
  }
  const mbps = (ms) => bytes / 1e6 / (ms / 1000);
  return [
    { name: 'parse corpus (~2 MB)', value: best, unit: 'ms', better: 'lower', peers: { 'dockerfile-ast': bestPeer } },
    { name: 'parse throughput', value: mbps(best), unit: 'MB/s', better: 'higher', peers: { 'dockerfile-ast': mbps(bestPeer) } },
    { name: 'parse 10,000-line Dockerfile', value: bigMs, unit: 'ms', better: 'lower', peers: { 'dockerfile-ast': bigPeer } },
  ];
}

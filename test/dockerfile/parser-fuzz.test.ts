// Random and mutated Dockerfiles for a bounded time: the parser must only ever return an AST or
// throw a DockerfileError (never another error, never hang). Seeded, so a failure reproduces.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DockerfileError } from '../../src/dockerfile/ast.js';
import { dumpBuildkit } from '../../src/dockerfile/buildkit-dump.js';
import { parse } from '../../src/dockerfile/parser.js';
import { parseSyntax } from '../../src/dockerfile/syntax.js';

const corpusDir = join(import.meta.dirname, '..', '..', 'testdata', 'buildkit-parser', 'testfiles');
const seeds = [
  ...readdirSync(corpusDir).map((d) => readFileSync(join(corpusDir, d, 'Dockerfile'), 'utf8')),
  readFileSync(join(import.meta.dirname, '..', '..', 'testdata', 'dockerfiles', 'heredocs', 'Dockerfile'), 'utf8'),
];

/** mulberry32: small, fast, seeded. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pieces = ['FROM', 'RUN', 'COPY', 'ADD', 'ONBUILD', 'HEALTHCHECK', 'ENV', 'LABEL', 'ARG', 'CMD', 'SHELL', 'run', ' ', '\t', '\n', '\r\n', '\\', '`', '\\\n', '#', '# escape=`\n', '# syntax=x\n', '<<', '<<-', 'EOF', "'", '"', '[', ']', '["a"]', ',', '=', '--', '--mount=type=cache,target=/x', '--from=a', '$', '${', '}', ':-', 'a', 'b c', '\uFEFF', '\u00a0', '\u2028', '♥', '\0', '[1]', '{}', 'NONE', 'CMD'];

function randomText(r: () => number): string {
  let s = '';
  const n = Math.floor(r() * 60);
  for (let i = 0; i < n; i++) s += pieces[Math.floor(r() * pieces.length)];
  return s;
}

function mutate(text: string, r: () => number): string {
  let s = text;
  const edits = 1 + Math.floor(r() * 6);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(r() * (s.length + 1));
    const op = r();
    if (op < 0.4) s = s.slice(0, at) + pieces[Math.floor(r() * pieces.length)] + s.slice(at);
    else if (op < 0.7) s = s.slice(0, at) + s.slice(at + 1 + Math.floor(r() * 20));
    else if (op < 0.85) {
      const lines = s.split('\n');
      const i = Math.floor(r() * lines.length);
      lines.splice(Math.floor(r() * lines.length), 0, lines[i]!);
      s = lines.join('\n');
    } else s = s.slice(0, at) + String.fromCharCode(Math.floor(r() * 128)) + s.slice(at);
  }
  return s;
}

function check(text: string): 'ok' | 'error' {
  try {
    const df = parse(text);
    expect(df.instructions.length).toBeGreaterThan(0);
    expect(typeof dumpBuildkit(df)).toBe('string');
    JSON.stringify(df);
    return 'ok';
  } catch (e) {
    if (!(e instanceof DockerfileError)) throw new Error(`not a DockerfileError for ${JSON.stringify(text)}: ${String(e)}`);
    expect(e.line).toBeGreaterThanOrEqual(1);
    expect(e.message).toMatch(/line \d+/);
    // The untyped layer fails the same way or succeeds (the typed layer is stricter).
    try {
      parseSyntax(text);
    } catch (s) {
      if (!(s instanceof DockerfileError)) throw s;
    }
    return 'error';
  }
}

describe('parser fuzz', () => {
  it('returns an AST or a DockerfileError for random and mutated input (bounded time)', () => {
    const seed = Number(process.env.FUZZ_SEED ?? 20240917);
    const r = rng(seed);
    const deadline = performance.now() + 2500;
    const seen = { ok: 0, error: 0 };
    let runs = 0;
    while (performance.now() < deadline) {
      const text = r() < 0.3 ? randomText(r) : mutate(seeds[Math.floor(r() * seeds.length)]!, r);
      seen[check(text)]++;
      runs++;
    }
    console.log(`fuzz seed ${seed}: ${runs} inputs, ${seen.ok} parsed, ${seen.error} rejected`);
    expect(seen.ok).toBeGreaterThan(0);
    expect(seen.error).toBeGreaterThan(0);
  });
});

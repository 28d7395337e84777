import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

const corpus = join(import.meta.dirname, '..', '..', 'testdata', 'buildkit-parser');
const dir = mkdtempSync(join(tmpdir(), 'tsbuild-parse-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const tsbuild = (...argv: string[]) => runCli(argv, { env: { HOME: '/nonexistent' } });

describe('tsbuild parse', () => {
  it('prints the BuildKit dump of a corpus case', async () => {
    const file = join(corpus, 'testfiles', 'flags', 'Dockerfile');
    const r = await tsbuild('parse', '--format', 'buildkit', file);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(readFileSync(join(corpus, 'testfiles', 'flags', 'result'), 'utf8'));
    expect(r.stderr).toBe('');
  });

  it('prints the AST as JSON by default', async () => {
    const file = join(dir, 'Dockerfile');
    writeFileSync(file, 'FROM alpine AS base\nRUN echo hi\n');
    const r = await tsbuild('parse', file);
    expect(r.code).toBe(0);
    const df = JSON.parse(r.stdout);
    expect(df.file).toBe(file);
    expect(df.instructions.map((i: { kind: string }) => i.kind)).toEqual(['FROM', 'RUN']);
    expect(df.instructions[0].alias).toBe('base');
  });

  it('heads each of several files, reports failures with their place, goes on, exits 1', async () => {
    const good = join(dir, 'good.Dockerfile');
    const bad = join(dir, 'bad.Dockerfile');
    writeFileSync(good, 'FROM a\nCMD ["x"]\n');
    writeFileSync(bad, 'FROM a\n\nENV PATH\n');
    const missing = join(dir, 'missing.Dockerfile');
    const r = await tsbuild('parse', '--format=buildkit', good, bad, missing, good);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(`==> ${good} <==\n(from "a")\n(cmd "x")\n\n==> ${good} <==\n(from "a")\n(cmd "x")\n`);
    const errors = r.stderr.trim().split('\n');
    expect(errors).toHaveLength(2);
    expect(errors[0]).toBe(`tsbuild: ${bad}:3:1: ENV must have two arguments (line 3)`);
    expect(errors[1]).toContain(missing);
  });

  it('reports what only the typed layer rejects in json format', async () => {
    const bad = join(dir, 'unknown.Dockerfile');
    writeFileSync(bad, 'FROM a\nFOO bar\n');
    const json = await tsbuild('parse', bad);
    expect(json.code).toBe(1);
    expect(json.stderr).toBe(`tsbuild: ${bad}:2:1: unknown instruction: FOO (line 2)\n`);
    // BuildKit's parser keeps an unknown instruction; so does its dump.
    const dump = await tsbuild('parse', '--format', 'buildkit', bad);
    expect(dump).toMatchObject({ code: 0, stdout: '(from "a")\n(foo "")\n' });
  });

  it('fails every negative corpus case with exit 1 and a line number', async () => {
    for (const name of ['empty_dockerfile', 'env_no_value', 'only_comments', 'shykes-nested-json']) {
      for (const format of ['buildkit', 'json']) {
        const r = await tsbuild('parse', '--format', format, join(corpus, 'testfiles-negative', name, 'Dockerfile'));
        expect(r.code, `${name} ${format}`).toBe(1);
        expect(r.stderr).toMatch(/line \d+/);
        expect(r.stdout).toBe('');
      }
    }
  });

  it('rejects an unknown format with a usage error', async () => {
    const r = await tsbuild('parse', '--format', 'yaml', join(dir, 'Dockerfile'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown format "yaml"');
  });
});

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanPath, createIgnoreMatcher, DockerignoreError, loadDockerignore, parseDockerignore } from '../../src/dockerfile/dockerignore.js';

const matcher = (text: string) => createIgnoreMatcher(parseDockerignore(text));

function check(text: string, ignored: string[], kept: string[]) {
  const m = matcher(text);
  for (const p of ignored) expect(m.ignores(p), `${p} should be ignored by ${JSON.stringify(text)}`).toBe(true);
  for (const p of kept) expect(m.ignores(p), `${p} should be kept by ${JSON.stringify(text)}`).toBe(false);
}

describe('parseDockerignore', () => {
  it('skips comments and blanks, trims, cleans and drops a leading slash', () => {
    const text = '\uFEFF# comment\n\n  /foo/../bar//baz/  \n!  ./keep\n  # not a comment\n/\r\nsrc/./x\n';
    expect(parseDockerignore(text)).toEqual([
      { pattern: 'bar/baz', exception: false },
      { pattern: 'keep', exception: true },
      { pattern: '# not a comment', exception: false },
      { pattern: '/', exception: false },
      { pattern: 'src/x', exception: false },
    ]);
  });

  it('rejects a lone "!"', () => {
    expect(() => parseDockerignore('!\n')).toThrow(DockerignoreError);
  });

  it('cleans paths as Go path.Clean does', () => {
    expect(cleanPath('a//b/./c/..')).toBe('a/b');
    expect(cleanPath('../a')).toBe('../a');
    expect(cleanPath('/../a')).toBe('/a');
    expect(cleanPath('')).toBe('.');
    expect(cleanPath('./')).toBe('.');
  });
});

describe('matching (Docker documentation examples)', () => {
  it('*/temp* matches one level below the root', () => {
    check('*/temp*', ['somedir/temporary.txt', 'somedir/temp', 'somedir/temp/inner/file'], ['temporary.txt', 'a/b/temp', 'somedir/xtemp']);
  });
  it('*/*/temp* matches two levels below the root', () => {
    check('*/*/temp*', ['somedir/subdir/temporary.txt'], ['somedir/temporary.txt', 'temp']);
  });
  it('temp? matches one character after temp at the root', () => {
    check('temp?', ['tempa', 'tempb', 'tempa/x'], ['temp', 'tempab', 'dir/tempa']);
  });
  it('**/*.go matches in every directory, the root included', () => {
    check('**/*.go', ['main.go', 'a/b/c/x.go'], ['main.go.txt', 'go']);
  });
  it('an exception re-includes', () => {
    check('*.md\n!README.md', ['CHANGES.md', 'docs.md'], ['README.md', 'docs/README.md', 'docs/x.md']);
  });
  it('the last matching line wins', () => {
    check('*.md\n!README*.md\nREADME-secret.md', ['README-secret.md', 'x.md'], ['README.md', 'README-x.md']);
    check('*.md\nREADME-secret.md\n!README*.md', ['x.md'], ['README-secret.md', 'README.md']);
  });
});

describe('matching rules', () => {
  it('a directory pattern covers everything below it', () => {
    check('node_modules', ['node_modules', 'node_modules/a/b.js'], ['src/node_modules', 'node_modules2']);
    check('/build/', ['build/out.o'], ['src/build/out.o']);
  });
  it('** spans zero or more directories', () => {
    check('a/**/z', ['a/z', 'a/b/z', 'a/b/c/z', 'a/b/c/z/file'], ['z', 'b/a/z', 'a/bz']);
    check('**/cache', ['cache', 'x/cache', 'x/y/cache/f'], ['xcache', 'cache2']);
    check('logs/**', ['logs/a', 'logs/a/b'], ['logs', 'logsx']);
    check('**', ['a', 'a/b'], []);
  });
  it('* and ? do not cross a slash', () => {
    check('*', ['a', 'a/b'], []);
    check('a*b', ['ab', 'axxb'], ['a/b']);
    check('a?b', ['axb'], ['a/b', 'ab']);
  });
  it('character classes and escapes', () => {
    check('file[0-9].txt', ['file1.txt', 'file9.txt'], ['filex.txt', 'file10.txt']);
    check('file[^0-9].txt', ['filex.txt'], ['file1.txt', 'file/.txt']);
    check('\\*.txt', ['*.txt'], ['a.txt']);
    check('a.b', ['a.b'], ['axb']);
    check('(x)+{y}|$', ['(x)+{y}|$'], ['x']);
    expect(() => matcher('file[0-9.txt')).toThrow(DockerignoreError);
  });
  it('exceptions below an ignored directory', () => {
    check('vendor\n!vendor/keep', ['vendor', 'vendor/other/x'], ['vendor/keep', 'vendor/keep/deep/file']);
    check('*\n!src/**/*.ts', ['package.json', 'src/a.js'], ['src/a.ts', 'src/x/y.ts']);
  });
  it('cleans the paths it is asked about and never ignores the root', () => {
    check('foo', ['./foo', 'foo/', 'foo//bar', 'x/../foo'], ['.', '', './']);
  });
  it('no patterns: nothing ignored', () => {
    const m = createIgnoreMatcher([]);
    expect(m.empty).toBe(true);
    expect(m.ignores('anything')).toBe(false);
    expect(m.mayMatchUnder('anything')).toBe(false);
  });
});

describe('mayMatchUnder', () => {
  it('is false without exceptions', () => {
    expect(matcher('vendor').mayMatchUnder('vendor')).toBe(false);
  });
  it('is true when an exception could re-include something below', () => {
    const m = matcher('vendor\n!vendor/keep/file\n!docs/*.md');
    expect(m.mayMatchUnder('vendor')).toBe(true);
    expect(m.mayMatchUnder('vendor/keep')).toBe(true);
    expect(m.mayMatchUnder('vendor/other')).toBe(false);
    expect(m.mayMatchUnder('docs')).toBe(true);
    expect(m.mayMatchUnder('docs/sub')).toBe(false);
    expect(m.mayMatchUnder('docs/odd.md')).toBe(true); // a directory the exception names itself
    expect(m.mayMatchUnder('src')).toBe(false);
  });
  it('is conservative with **', () => {
    const m = matcher('*\n!**/keep');
    expect(m.mayMatchUnder('a/b/c')).toBe(true);
  });
  it('agrees with ignores(): a skipped directory never hides a kept file', () => {
    const text = 'a\n!a/b/c\nx/*/y\n!x/k*/y/z\n**/tmp\n!**/tmp/keep';
    const m = matcher(text);
    const files = ['a/b/c', 'a/b/d', 'a/q', 'x/k1/y/z', 'x/k1/y/w', 'x/j/y/z', 'p/tmp/keep', 'p/tmp/drop'];
    for (const f of files) {
      const parts = f.split('/');
      for (let i = 1; i < parts.length; i++) {
        const dir = parts.slice(0, i).join('/');
        if (m.ignores(dir) && !m.mayMatchUnder(dir)) expect(m.ignores(f), `${f} under skipped ${dir}`).toBe(true);
      }
    }
    expect(m.ignores('a/b/c')).toBe(false);
    expect(m.ignores('a/b/d')).toBe(true);
    expect(m.ignores('x/k1/y/z')).toBe(false);
    expect(m.ignores('x/j/y/z')).toBe(true);
    expect(m.ignores('p/tmp/keep')).toBe(false);
  });
});

describe('loadDockerignore', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsbuild-dockerignore-'));
    await mkdir(join(dir, 'build'));
    await writeFile(join(dir, '.dockerignore'), 'from-context\n');
    await writeFile(join(dir, 'build', 'app.Dockerfile.dockerignore'), 'from-dockerfile\n');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prefers <Dockerfile>.dockerignore beside the Dockerfile', async () => {
    const r = await loadDockerignore(dir, 'build/app.Dockerfile');
    expect(r.patterns).toEqual([{ pattern: 'from-dockerfile', exception: false }]);
    expect(r.file).toBe(join(dir, 'build', 'app.Dockerfile.dockerignore'));
  });
  it('falls back to .dockerignore in the context', async () => {
    const r = await loadDockerignore(dir, 'Dockerfile');
    expect(r.patterns).toEqual([{ pattern: 'from-context', exception: false }]);
  });
  it('gives no patterns when there is no file', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'tsbuild-dockerignore-empty-'));
    try {
      expect(await loadDockerignore(empty, 'Dockerfile')).toEqual({ patterns: [] });
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});

describe('speed', () => {
  it('matches 100,000 paths against a realistic file in well under a second of work', () => {
    const m = matcher('node_modules\n**/*.log\n.git\n!important.log\ndist/**\n*/tmp*\n**/__pycache__\n!src/**/keep.log');
    let ignored = 0;
    for (let i = 0; i < 100_000; i++) {
      const p = `src/mod${i % 100}/sub${i % 7}/file${i}.${i % 3 === 0 ? 'log' : 'ts'}`;
      if (m.ignores(p)) ignored++;
    }
    expect(ignored).toBe(33_334);
  });
});

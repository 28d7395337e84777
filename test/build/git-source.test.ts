import { execFileSync } from 'node:child_process';
import { lstat, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveGitRepos } from '../helpers/git-http.js';
import { fetchGitSource, GitSourceError, isGitSource, parseGitSource } from '../../src/build/sources/git.js';

let root: string;
let repos: string;
let work: string;
let server: Server;
let httpUrl: string;
let fileUrl: string;
const commits: Record<string, string> = {};
let requests = 0;

function git(args: string[], cwd = work): string {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x', GIT_AUTHOR_DATE: '2020-01-01T00:00:00Z', GIT_COMMITTER_DATE: '2020-01-01T00:00:00Z' },
  }).trim();
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'tsbuild-git-'));
  repos = join(root, 'repos');
  work = join(root, 'work');
  git(['init', '-q', '-b', 'main', work], root);
  await writeFile(join(work, 'README'), 'v0\n');
  git(['add', '.']);
  git(['commit', '-q', '-m', 'initial']);
  commits.initial = git(['rev-parse', 'HEAD']);
  execFileSync('mkdir', ['-p', join(work, 'sub'), join(work, 'bin')]);
  await writeFile(join(work, 'README'), 'v1\n');
  await writeFile(join(work, 'sub', 'file'), 'one\n');
  await writeFile(join(work, 'bin', 'run.sh'), '#!/bin/sh\necho run\n', { mode: 0o755 });
  execFileSync('ln', ['-s', 'README', join(work, 'link')]);
  git(['add', '.']);
  git(['commit', '-q', '-m', 'v1']);
  commits.v1 = git(['rev-parse', 'HEAD']);
  git(['tag', '-a', 'v1', '-m', 'release 1']);
  git(['checkout', '-q', '-b', 'feature']);
  await writeFile(join(work, 'feature.txt'), 'feature\n');
  git(['add', '.']);
  git(['commit', '-q', '-m', 'feature']);
  commits.feature = git(['rev-parse', 'HEAD']);
  git(['checkout', '-q', 'main']);
  await writeFile(join(work, 'README'), 'v2\n');
  git(['commit', '-q', '-am', 'v2']);
  commits.main = git(['rev-parse', 'HEAD']);
  git(['clone', '-q', '--bare', work, join(repos, 'repo.git')], root);
  server = await serveGitRepos(repos, () => requests++);
  httpUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/repo.git`;
  fileUrl = `file://${join(repos, 'repo.git')}`;
});

afterAll(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  if (root) await rm(root, { recursive: true, force: true });
});

const store = async () => mkdtemp(join(root, 'store-'));

describe('git source syntax', () => {
  it('recognises git sources as Docker does', () => {
    expect(isGitSource('https://github.com/moby/buildkit.git#v0.10.1:docs')).toBe(true);
    expect(isGitSource('http://127.0.0.1:8080/repo.git')).toBe(true);
    expect(isGitSource('git@github.com:moby/buildkit.git')).toBe(true);
    expect(isGitSource('git://host/repo')).toBe(true);
    expect(isGitSource('github.com/moby/buildkit')).toBe(true);
    expect(isGitSource('https://example.com/file.tar.gz')).toBe(false);
    expect(isGitSource('src/dir')).toBe(false);
  });

  it('splits remote, ref and subdir', () => {
    expect(parseGitSource('https://h/r.git#v1:docs/')).toEqual({ remote: 'https://h/r.git', ref: 'v1', subdir: 'docs' });
    expect(parseGitSource('git@h:o/r.git#main')).toEqual({ remote: 'git@h:o/r.git', ref: 'main' });
    expect(parseGitSource('github.com/o/r')).toEqual({ remote: 'https://github.com/o/r' });
    expect(parseGitSource('https://h/r.git#:sub')).toEqual({ remote: 'https://h/r.git', subdir: 'sub' });
    expect(() => parseGitSource('https://h/r.git#main:../x')).toThrow(GitSourceError);
    expect(() => parseGitSource('https://h/r.git#--upload-pack=x')).toThrow(/invalid git ref/);
  });
});

describe('fetchGitSource over smart HTTP (git http-backend on loopback)', () => {
  it('fetches the default branch, without .git, keeping modes and symlinks', async () => {
    const s = await store();
    const r = await fetchGitSource(httpUrl, { storeRoot: s });
    expect(r.commit).toBe(commits.main);
    expect(await readFile(join(r.dir, 'README'), 'utf8')).toBe('v2\n');
    expect((await readdir(r.dir)).sort()).toEqual(['README', 'bin', 'link', 'sub']);
    expect((await lstat(join(r.dir, 'bin', 'run.sh'))).mode & 0o777).toBe(0o755);
    expect(await readlink(join(r.dir, 'link'))).toBe('README');
    expect(r.checksum).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('fetches an annotated tag, a branch and a commit', async () => {
    const s = await store();
    const tag = await fetchGitSource(`${httpUrl}#v1`, { storeRoot: s });
    expect(tag.commit).toBe(commits.v1);
    expect(await readFile(join(tag.dir, 'README'), 'utf8')).toBe('v1\n');
    const branch = await fetchGitSource(`${httpUrl}#feature`, { storeRoot: s });
    expect(branch.commit).toBe(commits.feature);
    expect(await readFile(join(branch.dir, 'feature.txt'), 'utf8')).toBe('feature\n');
    // Not the tip of anything: served by id (or found by the full-fetch fallback).
    const commit = await fetchGitSource(`${httpUrl}#${commits.initial}`, { storeRoot: s });
    expect(commit.commit).toBe(commits.initial);
    expect(await readdir(commit.dir)).toEqual(['README']);
    expect(new Set([tag.checksum, branch.checksum, commit.checksum]).size).toBe(3);
  });

  it('fetches a subdir; its checksum follows its content, not the commit', async () => {
    const s = await store();
    const atTag = await fetchGitSource(`${httpUrl}#v1:sub`, { storeRoot: s });
    const atMain = await fetchGitSource(`${httpUrl}#main:sub`, { storeRoot: s });
    expect(await readdir(atTag.dir)).toEqual(['file']);
    expect(atTag.commit).not.toBe(atMain.commit);
    expect(atTag.checksum).toBe(atMain.checksum);
    const whole = await fetchGitSource(`${httpUrl}#main`, { storeRoot: s });
    expect(whole.checksum).not.toBe(atMain.checksum);
    await expect(fetchGitSource(`${httpUrl}#main:nope`, { storeRoot: s })).rejects.toThrow(/nope not found/);
    await expect(fetchGitSource(`${httpUrl}#main:README`, { storeRoot: s })).rejects.toThrow(/README is not a directory/);
  });

  it('reuses the checkout of a commit it already has', async () => {
    const s = await store();
    const first = await fetchGitSource(`${httpUrl}#main`, { storeRoot: s });
    await writeFile(join(first.dir, '.marker'), 'x');
    const before = requests;
    const again = await fetchGitSource(`${httpUrl}#main`, { storeRoot: s });
    expect(again.dir).toBe(first.dir);
    expect(again.checksum).toBe(first.checksum);
    expect(await readFile(join(again.dir, '.marker'), 'utf8')).toBe('x');
    // Only the ref advertisement (ls-remote) went over the wire, no fetch: at most 2 requests in v2.
    expect(requests - before).toBeLessThanOrEqual(2);
  });

  it('keeps .git when asked', async () => {
    const s = await store();
    const r = await fetchGitSource(`${httpUrl}#v1`, { storeRoot: s, keepGitDir: true });
    expect((await lstat(join(r.dir, '.git'))).isDirectory()).toBe(true);
    expect(git(['rev-parse', 'HEAD'], r.dir)).toBe(commits.v1);
    expect(git(['remote', 'get-url', 'origin'], r.dir)).toBe(httpUrl);
    expect(git(['status', '--porcelain'], r.dir)).toBe('');
    const plain = await fetchGitSource(`${httpUrl}#v1`, { storeRoot: s });
    expect(plain.checksum).not.toBe(r.checksum);
    expect(plain.dir).not.toBe(r.dir);
  });

  it('fails with one clear line for a missing ref or an unreachable remote', async () => {
    const s = await store();
    await expect(fetchGitSource(`${httpUrl}#no-such-branch`, { storeRoot: s })).rejects.toThrow(/git ref "no-such-branch" not found/);
    const err = await fetchGitSource('http://127.0.0.1:1/none.git', { storeRoot: s }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(GitSourceError);
    expect((err as Error).message).toMatch(/^cannot read git repository http:\/\/127\.0\.0\.1:1\/none\.git: .+/);
    expect((err as Error).message).not.toContain('\n');
  });
});

describe('fetchGitSource over file://', () => {
  it('fetches a tag, a branch, a commit and a subdir', async () => {
    const s = await store();
    expect((await fetchGitSource(`${fileUrl}#v1`, { storeRoot: s })).commit).toBe(commits.v1);
    expect((await fetchGitSource(`${fileUrl}#feature`, { storeRoot: s })).commit).toBe(commits.feature);
    expect((await fetchGitSource(`${fileUrl}#${commits.initial}`, { storeRoot: s })).commit).toBe(commits.initial);
    const sub = await fetchGitSource(`${fileUrl}#main:sub`, { storeRoot: s });
    expect(await readFile(join(sub.dir, 'file'), 'utf8')).toBe('one\n');
  });

  it('falls back to a full fetch when the server refuses a commit by id', async () => {
    const s = await store();
    // Protocol v0 without uploadpack.allowReachableSHA1InWant: an unadvertised id is refused shallow.
    const saved = { ...process.env };
    Object.assign(process.env, { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'protocol.version', GIT_CONFIG_VALUE_0: '0' });
    try {
      // A first shallow fetch (of `main`) makes the bare repo shallow: the fallback must unshallow it.
      await fetchGitSource(`${fileUrl}#main`, { storeRoot: s });
      const r = await fetchGitSource(`${fileUrl}#${commits.initial}`, { storeRoot: s });
      expect(r.commit).toBe(commits.initial);
      expect(await readFile(join(r.dir, 'README'), 'utf8')).toBe('v0\n');
      // Proof the fallback ran: only the full fetch unshallows the remote's bare repo.
      const [bare] = await readdir(join(s, 'git', 'remotes'));
      expect(git(['rev-parse', '--is-shallow-repository'], join(s, 'git', 'remotes', bare!))).toBe('false');
    } finally {
      for (const k of ['GIT_CONFIG_COUNT', 'GIT_CONFIG_KEY_0', 'GIT_CONFIG_VALUE_0']) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
  });

  it('a plain path works too', async () => {
    const s = await store();
    const r = await fetchGitSource(`${join(repos, 'repo.git')}#feature`, { storeRoot: s });
    expect(r.commit).toBe(commits.feature);
  });
});

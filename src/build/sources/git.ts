/**
 * ADD of a git repository, with the git binary.
 *
 *   <storeRoot>/git/remotes/<hash>.git    a bare repo per remote: the objects fetched so far
 *                                         (refs/tsbuild/commits/<sha> keep them from git gc)
 *   <storeRoot>/git/checkouts/<sha>[.git]  the tree of a commit (with its .git for --keep-git-dir),
 *                                         made once: a second ADD of the same commit reuses it
 *   <storeRoot>/git/locks/<hash>           flock: one fetch into a bare repo at a time
 *
 * A ref is resolved with `git ls-remote` first, so an ADD of an unchanged branch or tag costs one
 * round trip and no fetch. Fetches are shallow (`--depth 1` of the one ref); a commit the server
 * refuses to serve shallow by id is found by a full fetch instead.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { lockFile } from '../mounts/flock.js';
import { GitSourceError, type GitSourceRef, parseGitSource } from './git-ref.js';

export { GitSourceError, isGitSource, parseGitSource, type GitSourceRef } from './git-ref.js';

export interface FetchGitOptions {
  storeRoot: string;
  /** `ADD --keep-git-dir`: the result holds `.git` (HEAD detached at the commit, `origin` = the remote). */
  keepGitDir?: boolean;
  signal?: AbortSignal;
}

export interface GitSource {
  /** The checkout (or its subdir): read-only, shared with later ADDs of the same commit. */
  dir: string;
  /** The commit id. */
  commit: string;
  /**
   * `sha256:<hex>` over the git tree id of `dir` (names, modes, content, symlinks), plus the commit and
   * remote when `.git` is kept: the step's cache input.
   */
  checksum: string;
}

const HEX = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/** Fetches `url` (`remote#ref:subdir`) and returns a checkout of the commit it names. */
export async function fetchGitSource(url: string, opts: FetchGitOptions): Promise<GitSource> {
  const src = parseGitSource(url);
  if (src.remote.startsWith('-')) throw new GitSourceError(`invalid git remote ${JSON.stringify(src.remote)}`);
  const gitRoot = join(opts.storeRoot, 'git');
  const hash = createHash('sha256').update(src.remote).digest('hex').slice(0, 32);
  const keep = opts.keepGitDir ?? false;
  const signal = opts.signal;

  const lock = (await lockFile(join(gitRoot, 'locks', hash), 'exclusive', signal ? { signal } : {}))!;
  try {
    const bare = await ensureBareRepo(join(gitRoot, 'remotes'), `${hash}.git`, signal);
    const resolved = await resolveCommit(bare, src, signal);
    let commit = resolved.commit;
    // Known commit, already checked out and in this remote's objects: nothing to transfer.
    const have = commit !== undefined && (await exists(checkoutPath(gitRoot, commit, keep))) && (await git(['-C', bare, 'cat-file', '-e', `${commit}^{commit}`])).code === 0;
    if (!have || commit === undefined) commit = await fetchCommit(bare, src, resolved, signal);
    const checkout = await ensureCheckout(gitRoot, bare, src.remote, commit, keep, signal);
    const tree = await treeOf(bare, commit, src, signal);
    const h = createHash('sha256').update('tsbuild-git-v1\n').update(`tree ${tree}\n`);
    if (keep) h.update(`git-dir ${commit} ${src.remote}\n`);
    return { dir: src.subdir ? join(checkout, src.subdir) : checkout, commit, checksum: `sha256:${h.digest('hex')}` };
  } finally {
    await lock.release();
  }
}

function checkoutPath(gitRoot: string, commit: string, keep: boolean): string {
  return join(gitRoot, 'checkouts', keep ? `${commit}.git` : commit);
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

interface GitResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs git without prompts (a build must never hang on a password question); abortable. */
function git(args: string[], opts: { cwd?: string; signal?: AbortSignal; env?: Record<string, string> } = {}): Promise<GitResult> {
  opts.signal?.throwIfAborted();
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, {
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: 'true', SSH_ASKPASS: 'true', LC_ALL: 'C', ...opts.env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-8192)));
    const onAbort = () => child.kill('SIGKILL');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e) => {
      opts.signal?.removeEventListener('abort', onAbort);
      reject(new GitSourceError((e as NodeJS.ErrnoException).code === 'ENOENT' ? 'git not found: install it (Debian package git)' : `cannot run git: ${e.message}`));
    });
    child.on('close', (code) => {
      opts.signal?.removeEventListener('abort', onAbort);
      if (opts.signal?.aborted) reject(opts.signal.reason ?? new Error('aborted'));
      else resolve({ code: code ?? 1, stdout, stderr });
    });
  });
}

function complaint(r: GitResult): string {
  const lines = r.stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  return (lines.find((l) => /^(fatal|error):/.test(l)) ?? lines[0] ?? `exit ${r.code}`).replace(/^(fatal|error):\s*/, '');
}

async function mustGit(args: string[], what: string, opts: Parameters<typeof git>[1] = {}): Promise<string> {
  const r = await git(args, opts);
  if (r.code !== 0) throw new GitSourceError(`${what}: ${complaint(r)}`);
  return r.stdout;
}

async function ensureBareRepo(dir: string, name: string, signal?: AbortSignal): Promise<string> {
  const bare = join(dir, name);
  if (await exists(join(bare, 'HEAD'))) return bare;
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.tmp-${randomBytes(6).toString('hex')}`);
  await mustGit(['init', '--bare', '-q', tmp], 'git init', signal ? { signal } : {});
  // Our refs keep what we fetched; git must not repack or expire them behind our back mid-build.
  await mustGit(['-C', tmp, 'config', 'gc.auto', '0'], 'git config');
  try {
    await rename(tmp, bare);
  } catch {
    await rm(tmp, { recursive: true, force: true });
  }
  return bare;
}

/** What ls-remote says `src.ref` is: its full name and commit. */
interface ResolvedRef {
  /** Undefined when only a fetch can tell (an abbreviated commit id). */
  commit?: string;
  /** What to fetch: a full ref name (always served), or the commit id itself. */
  want: string;
}

/** Resolves `src.ref` with `ls-remote` (no objects transferred), as git resolves a short name. */
async function resolveCommit(bare: string, src: GitSourceRef, signal?: AbortSignal): Promise<ResolvedRef> {
  const ref = src.ref;
  if (ref && HEX.test(ref)) return { commit: ref, want: ref };
  const r = await git(['-C', bare, 'ls-remote', '--', src.remote, ...(ref ? [] : ['HEAD'])], signal ? { signal } : {});
  if (r.code !== 0) throw new GitSourceError(`cannot read git repository ${src.remote}: ${complaint(r)}`);
  const refs = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    const [sha, name] = line.split('\t');
    if (sha && name) refs.set(name, sha);
  }
  if (!ref) {
    const head = refs.get('HEAD');
    if (!head) throw new GitSourceError(`git repository ${src.remote} has no HEAD`);
    return { commit: head, want: 'HEAD' };
  }
  // git's own order for a short name: the name, refs/<name>, tags, then branches.
  for (const name of [ref, `refs/${ref}`, `refs/tags/${ref}`, `refs/heads/${ref}`]) {
    const sha = refs.get(`${name}^{}`) ?? refs.get(name);
    if (sha) return { commit: sha, want: name };
  }
  if (/^[0-9a-f]{4,39}$/.test(ref)) return { want: ref };
  throw new GitSourceError(`git ref ${JSON.stringify(ref)} not found in ${src.remote}`);
}

/** Fetches the commit into `bare` (shallow, falling back to everything) and pins it with a ref. */
async function fetchCommit(bare: string, src: GitSourceRef, resolved: ResolvedRef, signal?: AbortSignal): Promise<string> {
  const o = signal ? { signal } : {};
  const tmpRef = `refs/tsbuild/tmp/${randomBytes(6).toString('hex')}`;
  let commit: string | undefined;
  const shallow = await git(['-C', bare, 'fetch', '-q', '--no-tags', '--depth', '1', '--', src.remote, `+${resolved.want}:${tmpRef}`], o);
  if (shallow.code === 0) {
    commit = (await mustGit(['-C', bare, 'rev-parse', '--verify', `${tmpRef}^{commit}`], 'git rev-parse', o)).trim();
    await git(['-C', bare, 'update-ref', '-d', tmpRef]);
  } else {
    // Servers may refuse an unadvertised commit id (uploadpack.allowReachableSHA1InWant off): take
    // every branch and tag, then look the commit up locally.
    const ns = `refs/tsbuild/all-${randomBytes(6).toString('hex')}`;
    const isShallow = (await git(['-C', bare, 'rev-parse', '--is-shallow-repository'])).stdout.trim() === 'true';
    const full = await git(['-C', bare, 'fetch', '-q', '--no-tags', ...(isShallow ? ['--unshallow'] : []), '--', src.remote, `+refs/heads/*:${ns}/heads/*`, `+refs/tags/*:${ns}/tags/*`], o);
    try {
      if (full.code !== 0) throw new GitSourceError(`cannot fetch ${src.ref ?? 'HEAD'} from ${src.remote}: ${complaint(shallow)}`);
      const name = src.ref ?? 'HEAD';
      const candidates = HEX.test(name) || /^[0-9a-f]{4,39}$/.test(name) ? [name] : [`${ns}/tags/${name}`, `${ns}/heads/${name}`, name];
      for (const c of candidates) {
        const r = await git(['-C', bare, 'rev-parse', '--verify', '-q', `${c}^{commit}`]);
        if (r.code === 0) {
          commit = r.stdout.trim();
          break;
        }
      }
      if (!commit) throw new GitSourceError(`git ref ${JSON.stringify(name)} not found in ${src.remote}`);
    } finally {
      const refs = await git(['-C', bare, 'for-each-ref', '--format=delete %(refname)', ns]);
      if (refs.stdout) await new Promise<void>((resolve) => {
        const child = spawn('git', ['-C', bare, 'update-ref', '--stdin'], { stdio: ['pipe', 'ignore', 'ignore'] });
        child.on('close', () => resolve()).on('error', () => resolve());
        child.stdin.end(refs.stdout);
      });
    }
  }
  await mustGit(['-C', bare, 'update-ref', `refs/tsbuild/commits/${commit}`, commit], 'git update-ref', o);
  return commit;
}

/** The checkout of `commit`, made once (temp dir, then rename) and shared by every later ADD of it. */
async function ensureCheckout(gitRoot: string, bare: string, remote: string, commit: string, keep: boolean, signal?: AbortSignal): Promise<string> {
  const final = checkoutPath(gitRoot, commit, keep);
  if (await exists(final)) return final;
  const parent = join(gitRoot, 'checkouts');
  await mkdir(parent, { recursive: true });
  const tmp = join(parent, `.tmp-${randomBytes(6).toString('hex')}`);
  const o = signal ? { signal } : {};
  const cfg = ['-c', 'core.autocrlf=false', '-c', 'core.symlinks=true', '-c', 'advice.detachedHead=false'];
  try {
    if (keep) {
      await mustGit(['init', '-q', tmp], 'git init', o);
      await mustGit([...cfg, '-C', tmp, 'fetch', '-q', '--no-tags', '--depth', '1', bare, `refs/tsbuild/commits/${commit}`], 'git fetch', o);
      await mustGit([...cfg, '-C', tmp, 'checkout', '-q', '--detach', commit], 'git checkout', o);
      await mustGit(['-C', tmp, 'remote', 'add', 'origin', remote], 'git remote add', o);
    } else {
      await mkdir(tmp);
      // A throwaway index outside the checkout: nothing of git's is left in the tree.
      const env = { GIT_INDEX_FILE: `${tmp}.index` };
      const base = [...cfg, '-c', 'core.bare=false', `--git-dir=${bare}`, `--work-tree=${tmp}`];
      try {
        await mustGit([...base, 'read-tree', commit], 'git read-tree', { ...o, env });
        await mustGit([...base, 'checkout-index', '-a', '-f'], 'git checkout-index', { ...o, env });
      } finally {
        await rm(`${tmp}.index`, { force: true });
      }
    }
    await rename(tmp, final).catch(async (e: NodeJS.ErrnoException) => {
      // Someone else made it first: theirs is as good as ours.
      if (e.code !== 'ENOTEMPTY' && e.code !== 'EEXIST') throw e;
      await rm(tmp, { recursive: true, force: true });
    });
    return final;
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** The git tree id of the commit's root or subdir; fails when the subdir is not a directory. */
async function treeOf(bare: string, commit: string, src: GitSourceRef, signal?: AbortSignal): Promise<string> {
  const spec = src.subdir ? `${commit}:${src.subdir}` : `${commit}^{tree}`;
  const r = await git(['-C', bare, 'rev-parse', '--verify', '-q', spec], signal ? { signal } : {});
  const id = r.stdout.trim();
  if (r.code !== 0 || !id) throw new GitSourceError(`${src.subdir ?? '/'} not found in ${src.remote} at ${commit.slice(0, 12)}`);
  const type = (await mustGit(['-C', bare, 'cat-file', '-t', id], 'git cat-file', signal ? { signal } : {})).trim();
  if (type !== 'tree') throw new GitSourceError(`${src.subdir} is not a directory in ${src.remote} at ${commit.slice(0, 12)}`);
  return id;
}

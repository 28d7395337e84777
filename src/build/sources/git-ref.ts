/**
 * ADD's git source syntax: `<remote>[#<ref>[:<subdir>]]`, where remote is `https://host/path.git`,
 * `git://...`, `ssh://...`, `git@host:path`, or `github.com/owner/repo` (as Docker accepts).
 */
export interface GitSourceRef {
  /** What `git fetch` is given. */
  remote: string;
  /** Branch, tag, full ref or commit; undefined means the remote's HEAD. */
  ref?: string;
  /** A directory of the repository to use instead of its root. */
  subdir?: string;
}

export class GitSourceError extends Error {
  override name = 'GitSourceError';
}

/** Whether an ADD source names a git repository rather than a file, a URL to download or a context path. */
export function isGitSource(src: string): boolean {
  if (/^(git:\/\/|git@|ssh:\/\/|github\.com\/)/.test(src)) return true;
  if (!/^https?:\/\//i.test(src)) return false;
  const noFrag = src.split('#', 1)[0]!;
  let path: string;
  try {
    path = new URL(noFrag).pathname;
  } catch {
    return false;
  }
  return /\.git\/?$/.test(path);
}

export function parseGitSource(src: string): GitSourceRef {
  const hash = src.indexOf('#');
  let remote = hash < 0 ? src : src.slice(0, hash);
  const fragment = hash < 0 ? '' : src.slice(hash + 1);
  if (!remote) throw new GitSourceError(`invalid git source ${JSON.stringify(src)}`);
  if (remote.startsWith('github.com/')) remote = `https://${remote}`;
  const colon = fragment.indexOf(':');
  const ref = colon < 0 ? fragment : fragment.slice(0, colon);
  const subdir = colon < 0 ? '' : fragment.slice(colon + 1).replace(/^\/+|\/+$/g, '');
  if (ref.startsWith('-') || /[\s~^:?*[\\]|\.\.|@\{/.test(ref)) throw new GitSourceError(`invalid git ref ${JSON.stringify(ref)}`);
  if (subdir.split('/').some((c) => c === '..')) throw new GitSourceError(`invalid git subdir ${JSON.stringify(subdir)}: it must stay inside the repository`);
  return { remote, ...(ref ? { ref } : {}), ...(subdir && subdir !== '.' ? { subdir } : {}) };
}

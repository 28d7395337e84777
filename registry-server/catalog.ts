import { REPOS_ROOT, repoPath } from './layout.js';
import type { StorageDriver } from './storage/driver.js';

/** Walks the repository tree; `keep` decides from a directory's children whether to list it. */
async function walkRepositories(driver: StorageDriver, keep: (children: string[]) => boolean): Promise<string[]> {
  const out: string[] = [];
  const walk = async (prefix: string): Promise<void> => {
    const children = await driver.list(prefix ? `${REPOS_ROOT}/${prefix}` : REPOS_ROOT);
    if (prefix && keep(children)) out.push(prefix);
    // Names nest (`a/b` and `a/b/c` can both exist), so the walk goes on below a repository.
    for (const c of children) if (!c.startsWith('_')) await walk(prefix ? `${prefix}/${c}` : c);
  };
  await walk('');
  return out.sort();
}

/** A directory is a repository once something was pushed or mounted into it. */
function isRepository(children: string[]): boolean {
  return children.includes('_manifests') || children.includes('_layers');
}

/** Every repository name in storage, sorted: directories holding `_manifests` or `_layers`. */
export function listRepositories(driver: StorageDriver): Promise<string[]> {
  return walkRepositories(driver, isRepository);
}

/**
 * Whether `repo` is known. Its directory alone is not enough: it also exists when `repo` is only a
 * prefix of other names (`a/b` of `a/b/c`) or holds nothing but an upload in progress.
 */
export async function repositoryExists(driver: StorageDriver, repo: string): Promise<boolean> {
  return isRepository(await driver.list(repoPath(repo)));
}

/** Every directory with any repository data, upload sessions included (for purging). */
export function listRepositoryDirs(driver: StorageDriver): Promise<string[]> {
  return walkRepositories(driver, (children) => children.some((c) => c.startsWith('_')));
}

/** The `n`/`last` pagination the spec defines for catalogs and tag lists. */
export function paginate(items: string[], n: number | undefined, last: string | undefined): { page: string[]; more: boolean } {
  const after = last === undefined ? items : items.filter((x) => x > last);
  if (n === undefined) return { page: after, more: false };
  return { page: after.slice(0, n), more: after.length > n };
}

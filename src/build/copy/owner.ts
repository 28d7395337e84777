import { readFile } from 'node:fs/promises';
import { resolveInRoot } from '../context/scoped-path.js';

export interface Owner {
  uid: number;
  gid: number;
}

export class ChownError extends Error {
  override name = 'ChownError';
}

async function readEtc(rootfs: string, file: string): Promise<string[][]> {
  try {
    const { host } = await resolveInRoot(rootfs, file);
    return (await readFile(host, 'utf8'))
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split(':'));
  } catch {
    return [];
  }
}

/**
 * `--chown=user[:group]` as BuildKit resolves it: names through the image's /etc/passwd and
 * /etc/group, numbers as they are; a user given alone takes its primary group if named, and
 * the same number as gid if numeric.
 */
export async function resolveChown(rootfs: string, spec: string): Promise<Owner> {
  const [user, group] = spec.split(':', 2) as [string, string | undefined];
  if (user === '') throw new ChownError(`invalid --chown ${JSON.stringify(spec)}`);
  let uid: number;
  let gid: number;
  if (/^[0-9]+$/.test(user)) {
    uid = gid = Number(user);
  } else {
    const row = (await readEtc(rootfs, '/etc/passwd')).find((r) => r[0] === user);
    if (!row) throw new ChownError(`unable to find user ${user}: no matching entries in passwd file`);
    uid = Number(row[2]);
    gid = Number(row[3]);
  }
  if (group !== undefined && group !== '') {
    if (/^[0-9]+$/.test(group)) gid = Number(group);
    else {
      const row = (await readEtc(rootfs, '/etc/group')).find((r) => r[0] === group);
      if (!row) throw new ChownError(`unable to find group ${group}: no matching entries in group file`);
      gid = Number(row[2]);
    }
  }
  return { uid, gid };
}

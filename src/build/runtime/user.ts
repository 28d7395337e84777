import { lstat, readFile, readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { UserIds } from './spec.js';

/** A USER that cannot be resolved in the image: printed as one line. */
export class UserError extends Error {
  override name = 'UserError';
}

export interface ResolvedUser extends UserIds {
  additionalGids: number[];
  /** From /etc/passwd, when the user is listed there. */
  home?: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const NUMERIC = /^\d+$/;
const MAX_ID = 2 ** 31 - 1;

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || !NUMERIC.test(f[2]!) || !NUMERIC.test(f[3]!)) continue;
    out.push({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '' });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 3 || !NUMERIC.test(f[2]!)) continue;
    out.push({ name: f[0]!, gid: Number(f[2]), members: (f[3] ?? '').split(',').map((m) => m.trim()).filter(Boolean) });
  }
  return out;
}

function numericId(s: string, what: string): number {
  const n = Number(s);
  if (n > MAX_ID) throw new UserError(`${what} ${s} is out of range`);
  return n;
}

/**
 * Resolves a USER string with docker's rules, from the image's passwd and group text:
 * `""` is root; `name` or `uid` take the primary gid from passwd (0 for a uid not listed) and
 * supplementary groups from group membership; `user:group` sets the group and no supplementary
 * groups. Numbers need not be listed; unknown names are an error.
 */
export function resolveUserFrom(spec: string, passwd: string, group: string): ResolvedUser {
  const [userPart = '', groupPart] = spec.split(':', 2) as [string, string | undefined];
  if (spec.trim() === '') return { uid: 0, gid: 0, additionalGids: [], home: homeOf(parsePasswd(passwd), 0) };
  const users = parsePasswd(passwd);
  const groups = parseGroup(group);
  let entry: PasswdEntry | undefined;
  let uid: number;
  if (NUMERIC.test(userPart)) {
    uid = numericId(userPart, 'uid');
    entry = users.find((u) => u.uid === uid);
  } else {
    entry = users.find((u) => u.name === userPart);
    if (!entry) throw new UserError(`unable to find user ${userPart}: no matching entries in passwd file`);
    uid = entry.uid;
  }
  let gid = entry?.gid ?? 0;
  let additionalGids: number[] = [];
  if (groupPart !== undefined && groupPart !== '') {
    if (NUMERIC.test(groupPart)) gid = numericId(groupPart, 'gid');
    else {
      const g = groups.find((x) => x.name === groupPart);
      if (!g) throw new UserError(`unable to find group ${groupPart}: no matching entries in group file`);
      gid = g.gid;
    }
  } else if (entry) {
    const name = entry.name;
    additionalGids = [...new Set(groups.filter((g) => g.members.includes(name) && g.gid !== gid).map((g) => g.gid))];
  }
  const out: ResolvedUser = { uid, gid, additionalGids };
  if (entry?.home) out.home = entry.home;
  return out;
}

function homeOf(users: PasswdEntry[], uid: number): string | undefined {
  return users.find((u) => u.uid === uid)?.home || undefined;
}

/** Resolves `spec` against the rootfs's /etc/passwd and /etc/group (missing files count as empty). */
export async function resolveUser(rootfs: string, spec: string): Promise<ResolvedUser> {
  const [passwd, group] = await Promise.all([readInRoot(rootfs, '/etc/passwd'), readInRoot(rootfs, '/etc/group')]);
  return resolveUserFrom(spec, passwd, group);
}

/**
 * Reads a file of the image, following symlinks as the container would see them (absolute targets
 * are relative to the rootfs), so a hostile image cannot make us read a host file.
 */
export async function readInRoot(rootfs: string, path: string): Promise<string> {
  const resolved = await resolveInRoot(rootfs, path);
  if (resolved === undefined) return '';
  try {
    return await readFile(join(rootfs, resolved), 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return '';
    throw e;
  }
}

/** The rootfs-relative absolute path `path` leads to, or undefined when a component is missing. */
export async function resolveInRoot(rootfs: string, path: string): Promise<string | undefined> {
  let todo = posix.normalize(`/${path}`).split('/').filter(Boolean);
  let cur = '/';
  let hops = 0;
  while (todo.length > 0) {
    const part = todo.shift()!;
    if (part === '..') {
      cur = posix.dirname(cur);
      continue;
    }
    const next = posix.join(cur, part);
    let st;
    try {
      st = await lstat(join(rootfs, next));
    } catch {
      return undefined;
    }
    if (st.isSymbolicLink()) {
      if (++hops > 40) return undefined;
      const target = await readlink(join(rootfs, next));
      todo = [...target.split('/').filter(Boolean), ...todo];
      if (target.startsWith('/')) cur = '/';
      continue;
    }
    cur = next;
  }
  return cur;
}

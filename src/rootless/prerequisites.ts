import { spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { RootlessError } from './errors.js';
import { type SubIdRange, subIdRanges } from './id-map.js';

/** Where the host's settings live; tests point these at fixtures. */
export interface HostPaths {
  subuid: string;
  subgid: string;
  /** Directory of the sysctl files (`/proc/sys`). */
  procSys: string;
}

export const HOST_PATHS: HostPaths = { subuid: '/etc/subuid', subgid: '/etc/subgid', procSys: '/proc/sys' };

export interface RootlessUser {
  name: string;
  uid: number;
  gid: number;
}

export interface RootlessPlan {
  uidRange: SubIdRange;
  gidRange: SubIdRange;
  /** Absolute paths of the tools the re-exec needs. */
  unshare: string;
  newuidmap: string;
  newgidmap: string;
}

function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The executable `name` on PATH, or undefined. */
export function findOnPath(name: string, path: string | undefined): string | undefined {
  for (const dir of (path || '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not in this dir
    }
  }
  return undefined;
}

/** Throws when the kernel refuses user namespaces to unprivileged users; the message names the sysctl. */
export function checkUserNamespaces(procSys: string): void {
  const max = readOrUndefined(join(procSys, 'user/max_user_namespaces'));
  if (max !== undefined && Number(max.trim()) === 0) {
    throw new RootlessError(
      'rootless: user namespaces are disabled (sysctl user.max_user_namespaces = 0)',
      'as root: sysctl -w user.max_user_namespaces=15000',
    );
  }
  // Debian and Ubuntu kernels before 6.x carry this switch; mainline has no such file.
  const clone = readOrUndefined(join(procSys, 'kernel/unprivileged_userns_clone'));
  if (clone !== undefined && clone.trim() === '0') {
    throw new RootlessError(
      'rootless: unprivileged user namespaces are disabled (sysctl kernel.unprivileged_userns_clone = 0)',
      'as root: sysctl -w kernel.unprivileged_userns_clone=1',
    );
  }
  // Ubuntu 23.10+ lets AppArmor deny them to programs without a profile.
  const apparmor = readOrUndefined(join(procSys, 'kernel/apparmor_restrict_unprivileged_userns'));
  if (apparmor !== undefined && apparmor.trim() === '1') {
    throw new RootlessError(
      'rootless: AppArmor restricts unprivileged user namespaces (sysctl kernel.apparmor_restrict_unprivileged_userns = 1)',
      'as root: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or give node an AppArmor profile allowing userns',
    );
  }
}

function subRange(file: string, what: 'uid' | 'gid', user: RootlessUser): SubIdRange {
  const text = readOrUndefined(file);
  // Both files are keyed by user name or uid (never by gid).
  const ranges = text === undefined ? [] : subIdRanges(text, user.name, user.uid);
  const first = ranges[0];
  if (!first) {
    throw new RootlessError(
      `rootless: no subordinate ${what} range for user ${user.name} (uid ${user.uid}) in ${file}`,
      `as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${user.name}`,
    );
  }
  return first;
}

/**
 * Checks everything a rootless build needs before re-executing into a user namespace, in the order
 * a user would fix them, and throws a RootlessError naming the first thing missing.
 */
export function checkRootlessPrerequisites(user: RootlessUser, env: NodeJS.ProcessEnv, paths: HostPaths = HOST_PATHS): RootlessPlan {
  checkUserNamespaces(paths.procSys);
  const newuidmap = findOnPath('newuidmap', env.PATH);
  const newgidmap = findOnPath('newgidmap', env.PATH);
  if (!newuidmap || !newgidmap) {
    throw new RootlessError(
      `rootless: ${!newuidmap ? 'newuidmap' : 'newgidmap'} not found (Debian package uidmap)`,
      'as root: apt-get install uidmap',
    );
  }
  const uidRange = subRange(paths.subuid, 'uid', user);
  const gidRange = subRange(paths.subgid, 'gid', user);
  const unshare = findOnPath('unshare', env.PATH);
  if (!unshare) throw new RootlessError('rootless: unshare not found (Debian package util-linux)');
  const help = spawnSync(unshare, ['--help'], { encoding: 'utf8' });
  if (!`${help.stdout ?? ''}`.includes('--map-auto')) {
    throw new RootlessError('rootless: this unshare lacks --map-auto (util-linux 2.38 or later is needed)');
  }
  return { uidRange, gidRange, unshare, newuidmap, newgidmap };
}

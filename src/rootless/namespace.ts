import { readFileSync } from 'node:fs';

/** Set in the environment of the CLI re-executed inside its user namespace. */
export const ROOTLESS_ENV = 'TSBUILD_ROOTLESS';
/** The runtime's state dir chosen by the parent (runc's default /run/runc belongs to the real root). */
export const RUNTIME_ROOT_ENV = 'TSBUILD_RUNTIME_ROOT';

/**
 * True when this process runs in a user namespace other than the initial one, which maps all 2^32
 * ids onto themselves. Then the kernel refuses what only the real root may do (sysfs of the host's
 * network namespace, mknod, cgroup writes) and the runtime spec must avoid them.
 */
export function inUserNamespace(uidMapText?: string): boolean {
  let text = uidMapText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/uid_map', 'utf8');
    } catch {
      return false;
    }
  }
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  if (lines.length !== 1) return true;
  const [inside, outside, count] = lines[0]!.split(/\s+/).map(Number);
  return !(inside === 0 && outside === 0 && count === 4294967295);
}

/** Global flags for runc/crun in rootless mode (its state dir); empty otherwise. */
export function runtimeGlobalArgs(env: NodeJS.ProcessEnv = process.env): string[] {
  const root = env[RUNTIME_ROOT_ENV];
  return root ? ['--root', root] : [];
}

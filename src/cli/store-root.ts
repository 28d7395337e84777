import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** The local store root: `--root`, then TSBUILD_ROOT, then the XDG data dir. */
export function defaultStoreRoot(env: NodeJS.ProcessEnv): string {
  if (env.TSBUILD_ROOT) return resolve(env.TSBUILD_ROOT);
  const dataHome = env.XDG_DATA_HOME || join(env.HOME || homedir(), '.local', 'share');
  return join(dataHome, 'tsbuild');
}

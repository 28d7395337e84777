import { spawn, spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync } from 'node:fs';
import { constants, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { RootlessError } from './errors.js';
import { ROOTLESS_ENV, RUNTIME_ROOT_ENV } from './namespace.js';
import { checkRootlessPrerequisites, type HostPaths, HOST_PATHS, type RootlessUser } from './prerequisites.js';
import { deferForChild } from '../net/deferred-ca.js';

/** The commands that run containers or mount snapshots, and so need to be "root" in a user namespace. */
export const ROOTLESS_COMMANDS = new Set(['build', 'run', 'prune']);

export interface ReexecIo {
  stdout: Writable;
  stderr: Writable;
  stdin: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
}

export interface ReexecOptions {
  /** The node arguments that start this CLI again (default: execArgv and the entry script). */
  entry?: string[];
  paths?: HostPaths;
  /** Default: this process's user. */
  user?: RootlessUser;
}

/** Whether this invocation must re-execute itself in a user namespace first. */
export function needsRootless(commandName: string, env: NodeJS.ProcessEnv): boolean {
  if (!ROOTLESS_COMMANDS.has(commandName)) return false;
  if (typeof process.geteuid !== 'function' || process.geteuid() === 0) return false;
  return env[ROOTLESS_ENV] !== '1';
}

/**
 * A private dir for the runtime's state, made by and for this user: under XDG_RUNTIME_DIR when that
 * is usable (it may be another user's after sudo or runuser), else the temp dir. A dir someone else
 * made there (or a symlink) is refused rather than used.
 */
function runtimeRoot(uid: number, env: NodeJS.ProcessEnv): string {
  const bases = [env.XDG_RUNTIME_DIR, tmpdir()].filter((b): b is string => !!b);
  let lastError = '';
  for (const base of bases) {
    const dir = join(base, `tsbuild-runtime-${uid}`);
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      lastError = (e as Error).message;
      continue;
    }
    const st = lstatSync(dir);
    if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o077) !== 0) {
      throw new RootlessError(`rootless: ${dir} must be a directory owned by uid ${uid} with mode 0700`);
    }
    return dir;
  }
  throw new RootlessError(`rootless: no directory for the runtime's state: ${lastError}`);
}

/**
 * Runs this CLI again as "root" of a new user namespace with its own mount namespace: the user is
 * mapped to 0 and their /etc/subuid and /etc/subgid ranges to 1..n (so images' files owned by other
 * ids keep their owners), as rootless podman and BuildKit do. `unshare --map-auto` has newuidmap and
 * newgidmap write the maps before it execs, so the new process starts with full capabilities there.
 * Resolves with the child's exit code.
 */
export async function reexecRootless(argv: string[], io: ReexecIo, opts: ReexecOptions = {}): Promise<number> {
  const info = userInfo();
  const user = opts.user ?? { name: info.username, uid: info.uid, gid: info.gid };
  const plan = checkRootlessPrerequisites(user, io.env, opts.paths ?? HOST_PATHS);
  const entry = opts.entry ?? [...process.execArgv, process.argv[1]!];
  const nsArgs = ['--map-root-user', '--map-auto', '--mount', '--propagation', 'private'];
  // A dry run first, so that a refusal the checks cannot foresee (a seccomp filter, an id range
  // newuidmap rejects) is one clear line rather than unshare's own output.
  const probe = spawnSync(plan.unshare, [...nsArgs, '--', 'true'], { encoding: 'utf8', env: io.env });
  if (probe.status !== 0) {
    const why = `${probe.stderr ?? ''}`.trim().split('\n')[0] || probe.error?.message || `exit ${probe.status}`;
    throw new RootlessError(`rootless: cannot enter a user namespace: ${why}`, 'check /etc/subuid, /etc/subgid and that newuidmap/newgidmap are setuid root');
  }
  const env: NodeJS.ProcessEnv = { ...io.env, [ROOTLESS_ENV]: '1', [RUNTIME_ROOT_ENV]: join(runtimeRoot(user.uid, io.env), 'runc') };
  // The child is this CLI again: it takes the CA bundle deferred, as the launcher handed it over.
  deferForChild(env);
  const inherit = (s: Writable, std: Writable) => (s === std ? 'inherit' : 'pipe');
  const child = spawn(
    plan.unshare,
    [...nsArgs, '--', process.execPath, ...entry, ...argv],
    { env, stdio: [io.stdin === process.stdin ? 'inherit' : 'pipe', inherit(io.stdout, process.stdout), inherit(io.stderr, process.stderr)] },
  );
  if (child.stdout) child.stdout.pipe(io.stdout, { end: false });
  if (child.stderr) child.stderr.pipe(io.stderr, { end: false });
  if (child.stdin) {
    child.stdin.on('error', () => undefined);
    io.stdin.pipe(child.stdin);
  }
  // Ctrl-C reaches the child from the terminal itself (same process group): this process only waits
  // for it to clean up. A SIGTERM sent to this process alone is passed on.
  const ignore = () => undefined;
  const forward = () => child.kill('SIGTERM');
  process.on('SIGINT', ignore);
  process.on('SIGTERM', forward);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.on('error', (e) => reject(new RootlessError(`rootless: cannot run ${plan.unshare}: ${e.message}`)));
      child.on('close', (code, signal) => {
        if (code !== null) resolve(code);
        else resolve(128 + (signal ? constants.signals[signal] : 9));
      });
    });
  } finally {
    process.off('SIGINT', ignore);
    process.off('SIGTERM', forward);
    if (child.stdin) io.stdin.unpipe(child.stdin);
  }
}

/**
 * RUN --mount: turns a step's RunMount specs into OCI mounts for `runContainer`, plus the environment
 * they add, and undoes everything afterwards. One call per RUN step:
 *
 * ```
 * const prepared = await prepareRunMounts(step.mounts, ctx);
 * try {
 *   await runContainer({ ..., mounts: prepared.ociMounts, env: [...env, ...entries(prepared.env)] });
 * } finally {
 *   await prepared.release();
 * }
 * ```
 *
 * Nothing mounted here is part of the rootfs: each is a bind (or tmpfs) mount over it, and the runtime
 * removes the empty mount-point stubs it had to create (runtime/mount-stubs.ts), so no layer sees them.
 */
import { posix } from 'node:path';
import type { FromRef, RunMount } from '../../plan/build-graph.js';
import type { OciMount } from '../runtime/spec.js';
import { discardableCopy, resolveMountSource } from './bind.js';
import { contextView } from './context-view.js';
import { acquireCacheMount } from './cache-mounts.js';
import { makeSecretDir, readSecret, removeSecretDir, writeSecretFile } from './secrets.js';
import { startAgentProxy } from './ssh-proxy.js';
import { mountTarget, secretEnvOnly, secretId } from './target.js';
import { MountError, type MountedRoot, type PreparedMounts, type RunMountContext } from './types.js';

export { cacheKeyOf, type MountKeyInputs } from './cache-key.js';
export { pruneCacheMounts, type PruneCacheMountsResult } from './cache-mounts.js';
export { parseSecretFlag, parseSshFlag } from './flags.js';
export { MountError, type MountedRoot, type PreparedMounts, type RunMountContext, type SecretSource } from './types.js';

const BIND_OPTS = ['rbind', 'nosuid', 'nodev'];

export async function prepareRunMounts(mounts: readonly RunMount[], ctx: RunMountContext): Promise<PreparedMounts> {
  const undo: (() => Promise<unknown>)[] = [];
  const ociMounts: OciMount[] = [];
  const env: Record<string, string> = {};
  let released: Promise<void> | undefined;
  const release = () => {
    released ??= (async () => {
      let first: unknown;
      for (const u of undo.reverse()) {
        try {
          await u();
        } catch (e) {
          first ??= e;
        }
      }
      if (first) throw first;
    })();
    return released;
  };
  const workdir = ctx.workdir || '/';
  const hostEnv = ctx.hostEnv ?? process.env;
  let secretDir: string | undefined;
  let sshSet = false;

  /** A `from=` root (a stage's or an image's), released with the mounts when the caller asked. */
  const rootOf = async (from: FromRef): Promise<string> => {
    const r: string | MountedRoot = from.type === 'stage' ? await ctx.stageRootfs(from.index) : await ctx.imageRootfs(from.ref);
    if (typeof r === 'string') return r;
    undo.push(() => r.release());
    return r.path;
  };
  const describe = (from: FromRef | undefined) => (from ? (from.type === 'stage' ? `stage ${from.index}` : from.ref) : 'the build context');

  try {
    for (const [i, m] of mounts.entries()) {
      ctx.signal?.throwIfAborted();
      const target = secretEnvOnly(m) ? '' : mountTarget(m, workdir, i);
      const rw = m.readonly ? 'ro' : 'rw';
      switch (m.type) {
        case 'bind': {
          let src: { host: string; isDir: boolean };
          if (!m.from && ctx.contextTree?.ignore) {
            const view = await contextView(ctx.storeRoot, ctx.contextTree, m.source);
            undo.push(() => view.dispose());
            src = view;
          } else {
            src = await resolveMountSource(m.from ? await rootOf(m.from) : ctx.contextDir, m.source, `bind mount from ${describe(m.from)}`);
          }
          let host = src.host;
          if (!m.readonly) {
            // Writes through a rw bind are the step's scratch space, never the context's or a stage's.
            const copy = await discardableCopy(ctx.storeRoot, src);
            undo.push(() => copy.dispose());
            host = copy.path;
          }
          ociMounts.push({ destination: target, type: 'bind', source: host, options: [...BIND_OPTS, rw] });
          break;
        }
        case 'cache': {
          let seed: string | undefined;
          let seedIdentity: string | undefined;
          if (m.from) {
            const root = await rootOf(m.from);
            const src = await resolveMountSource(root, m.source, `cache mount from ${describe(m.from)}`);
            if (!src.isDir) throw new MountError(`cache mount from ${describe(m.from)}: ${m.source ?? '/'} is not a directory`);
            seed = src.host;
            const who = ctx.fromIdentity ? await ctx.fromIdentity(m.from) : m.from.type === 'stage' ? `stage:${m.from.index}` : `image:${m.from.ref}`;
            seedIdentity = `${who}:${posix.normalize(`/${m.source ?? ''}`)}`;
          }
          const cache = await acquireCacheMount(
            ctx.storeRoot,
            {
              id: m.id || target,
              sharing: m.sharing ?? 'shared',
              ...(m.mode !== undefined ? { mode: m.mode } : {}),
              ...(m.uid !== undefined ? { uid: m.uid } : {}),
              ...(m.gid !== undefined ? { gid: m.gid } : {}),
              ...(seed ? { seed, seedIdentity } : {}),
            },
            ctx.signal,
          );
          undo.push(() => cache.release());
          ociMounts.push({ destination: target, type: 'bind', source: cache.dir, options: [...BIND_OPTS, rw] });
          break;
        }
        case 'tmpfs':
          ociMounts.push({ destination: target, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', ...(m.size !== undefined ? [`size=${m.size}`] : [])] });
          break;
        case 'secret': {
          const id = secretId(m);
          const source = ctx.secrets.get(id);
          const data = source ? await readSecret(id, source, hostEnv) : undefined;
          if (!data) {
            if (m.required) throw new MountError(`secret ${id} not found: pass it with --secret id=${id},src=FILE (or env=VAR)`);
            break;
          }
          if (m.env) env[m.env] = data.toString('utf8');
          if (secretEnvOnly(m)) break;
          if (!secretDir) {
            const dir = await makeSecretDir(ctx.storeRoot);
            secretDir = dir;
            undo.push(() => removeSecretDir(dir));
          }
          const file = await writeSecretFile(secretDir, `${i}`, data, { uid: m.uid ?? 0, gid: m.gid ?? 0, mode: m.mode ?? 0o400 });
          ociMounts.push({ destination: target, type: 'bind', source: file, options: [...BIND_OPTS, 'noexec', 'ro'] });
          break;
        }
        case 'ssh': {
          const id = m.id || 'default';
          const agent = ctx.sshAgents.get(id);
          if (!agent) {
            if (m.required) throw new MountError(`no SSH agent ${JSON.stringify(id)} forwarded: pass --ssh ${id === 'default' ? 'default' : `${id}=SOCKET`}`);
            break;
          }
          const proxy = await startAgentProxy(agent, { uid: m.uid ?? 0, gid: m.gid ?? 0, mode: m.mode ?? 0o600 });
          undo.push(() => proxy.close());
          ociMounts.push({ destination: target, type: 'bind', source: proxy.socket, options: [...BIND_OPTS, 'noexec', 'ro'] });
          if (!sshSet) {
            env.SSH_AUTH_SOCK = target;
            sshSet = true;
          }
          break;
        }
      }
    }
  } catch (e) {
    await release().catch(() => undefined);
    throw e;
  }
  // Parents before children, so a mount at /a does not hide one at /a/b; otherwise in step order.
  const depth = (p: string) => (p === '/' ? 0 : p.split('/').length);
  ociMounts.sort((a, b) => depth(a.destination) - depth(b.destination));
  return { ociMounts, env, release };
}
